"""The lab's `sriov` CNI plugin: does to a fake VF what SR-IOV CNI does to a real one.

ADD (sriov-cni pkg/sriov): find the VF by `deviceID` (the fake PCI address the runtime handed out, looked
up in the lab's registry instead of /sys/bus/pci), snapshot its settings, apply vlan/mac/spoofchk/trust/
link_state through its PF (vf.configure_vf: `ip link set PF vf N ...` for netdevsim), move the VF netdev
into the pod renamed to CNI_IFNAME, set it up; result `interfaces[0]` = {name, mac, sandbox}.
DEL: no cached record -> success; move the VF back under its own name (a veth VF whose pod netns was
deleted died with it: make it again, as a real VF returns to the host), restore only the knobs ADD set.
Runs as `#!python` script the lab writes into its CNI bin dir; finds the lab through BONDLAB_LAB_DIR.
"""

from __future__ import annotations

import json
import os
import sys


class Fail(Exception):
    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code, self.msg, self.details = code, msg, details


def _state():
    from pathlib import Path

    from bondlab.labstate import LabState

    directory = os.environ.get("BONDLAB_LAB_DIR")
    if not directory:
        raise Fail(11, "BONDLAB_LAB_DIR is not set: the lab's sriov plugin runs only under bondlab")
    path = Path(directory)
    return LabState(path, json.loads((path / "lab.json").read_text()))


def _find(state, pci: str):
    for record in state.data["pfs"]:
        for vf in record["vfs"]:
            if vf["pci"] == pci:
                return record, vf
    raise Fail(7, f"no VF with PCI address {pci} on this node (lab {state.data['name']})")


def _settings(conf: dict) -> dict:
    out = {}
    if conf.get("vlan") is not None:
        out["vlan"] = int(conf["vlan"])
    mac = (conf.get("runtimeConfig") or {}).get("mac") or conf.get("mac")
    if mac:
        out["mac"] = mac
    for key in ("spoofchk", "trust"):
        if conf.get(key) in ("on", "off"):
            out[key] = conf[key] == "on"
        elif conf.get(key) is not None:
            raise Fail(7, f'"{key}" must be "on" or "off", got {conf[key]!r}')
    if conf.get("link_state") is not None:
        if conf["link_state"] not in ("auto", "enable", "disable"):
            raise Fail(7, f'"link_state" must be auto, enable or disable, got {conf["link_state"]!r}')
        out["link_state"] = conf["link_state"]
    return out


def _cache(state, env) -> str:
    return os.path.join(state.dir, "sriov", f"{env['CNI_CONTAINERID']}-{env['CNI_IFNAME']}.json")


def add(conf: dict, env) -> dict:
    from bondlab import vf
    from bondlab.netns import Netns

    pci = conf.get("deviceID") or conf.get("pciBusID")
    if not pci:
        raise Fail(
            7, "VF pci addr is required (no deviceID: does the NAD name a resourceName the pod requests?)"
        )
    state = _state()
    record, entry = _find(state, pci)
    node, index = Netns(record["nodens"]), entry["index"]
    pod, ifname = os.path.basename(env["CNI_NETNS"]), env["CNI_IFNAME"]
    links = node.ip_json("link", "show", "dev", entry["netdev"]) if _exists(node, entry["netdev"]) else None
    if not links:
        raise Fail(11, f"VF {pci} ({entry['netdev']}) is not on the node: already in use?")
    settings = _settings(conf)
    original = vf.vf_config(state, record, index)
    saved = {
        "pci": pci,
        "settings": settings,
        "original": original,
        "mac": links[0]["address"],
        "mtu": links[0]["mtu"],
        "netns": env["CNI_NETNS"],
    }
    os.makedirs(os.path.dirname(_cache(state, env)), exist_ok=True)
    with open(_cache(state, env), "w") as stream:
        json.dump(saved, stream)
    if settings:
        vf.configure_vf(state, record, index, settings)
    node.ip("link", "set", "dev", entry["netdev"], "netns", pod, "name", ifname)
    podns = Netns(pod)
    podns.ip("link", "set", "dev", ifname, "up")
    mac = podns.ip_json("link", "show", "dev", ifname)[0]["address"]
    return {
        "cniVersion": conf.get("cniVersion") or "0.3.1",
        "interfaces": [{"name": ifname, "mac": mac, "sandbox": env["CNI_NETNS"]}],
        "ips": [],
        "dns": {},
    }


def _exists(ns, name: str) -> bool:
    return ns.ip("link", "show", "dev", name, check=False).returncode == 0


def delete(conf: dict, env) -> None:
    from bondlab import vf
    from bondlab.netns import Netns, list_netns

    state = _state()
    try:
        with open(_cache(state, env)) as stream:
            saved = json.load(stream)
    except FileNotFoundError:
        return  # nothing of ours: DEL must succeed (kubelet would loop otherwise)
    record, entry = _find(state, saved["pci"])
    node, index = Netns(record["nodens"]), entry["index"]
    pod, ifname = os.path.basename(saved["netns"]), env["CNI_IFNAME"]
    if pod in list_netns() and _exists(Netns(pod), ifname):
        podns = Netns(pod)
        podns.ip("link", "set", "dev", ifname, "down")
        podns.ip("link", "set", "dev", ifname, "nomaster", check=False)
        podns.ip("link", "set", "dev", ifname, "netns", record["nodens"], "name", entry["netdev"])
    if not _exists(node, entry["netdev"]):
        vf.recreate_vf(state, record, index)
    node.ip("link", "set", "dev", entry["netdev"], "address", saved["mac"], "mtu", str(saved["mtu"]))
    restore = {key: saved["original"].get(key) for key in saved["settings"]}
    if restore:
        vf.configure_vf(state, record, index, restore)
    os.unlink(_cache(state, env))


def main() -> int:
    env = os.environ
    command = env.get("CNI_COMMAND", "")
    try:
        conf = json.loads(sys.stdin.read() or "{}")
        if command == "VERSION":
            print(json.dumps({"cniVersion": "1.0.0", "supportedVersions": ["0.3.1", "0.4.0", "1.0.0"]}))
        elif command == "ADD":
            print(json.dumps(add(conf, env)))
        elif command == "DEL":
            delete(conf, env)
        elif command != "CHECK":
            raise Fail(4, f"unknown CNI_COMMAND {command!r}")
        return 0
    except Fail as error:
        print(
            json.dumps(
                {"cniVersion": "1.0.0", "code": error.code, "msg": error.msg, "details": error.details}
            )
        )
    except Exception as error:  # a lab bug or a kernel refusal: still a CNI error, never a traceback only
        print(json.dumps({"cniVersion": "1.0.0", "code": 999, "msg": f"lab sriov: {error}"}))
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
