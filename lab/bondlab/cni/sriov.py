"""The lab's `sriov` CNI plugin: does to a fake VF what SR-IOV CNI does to a real one.

ADD (sriov-cni pkg/sriov): find the VF by `deviceID` (the fake PCI address the runtime handed out, looked
up in the lab's registry instead of /sys/bus/pci), snapshot its settings, apply vlan/mac/spoofchk/trust/
link_state/max_tx_rate/min_tx_rate through its PF (vf.configure_vf: `ip link set PF vf N ...` for
netdevsim), move the VF netdev into the pod renamed to CNI_IFNAME, set it up; result `interfaces[0]` =
{name, mac, sandbox}.
With an `ipam` section, ADD then runs that IPAM plugin and puts its addresses and routes on the VF
(result `ips`/`routes`), and DEL runs its DEL first.
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


def _lab_dir() -> str:
    directory = os.environ.get("BONDLAB_LAB_DIR")
    if not directory:
        raise Fail(11, "BONDLAB_LAB_DIR is not set: the lab's sriov plugin runs only under bondlab")
    return directory


def _find(pci: str):
    """(state, PF record, VF) for a deviceID, from the lab's per-VF registry (vf.register): O(1), where
    reading the whole lab record made every ADD/DEL slower the more pods the lab had."""
    from pathlib import Path

    from bondlab.world import vf
    from bondlab.world.labstate import LabState

    directory = _lab_dir()
    found = vf.lookup(directory, pci)
    if found is None:
        raise Fail(7, f"no VF with PCI address {pci} on this node (lab {os.path.basename(directory)})")
    lab, record, entry = found
    return LabState(Path(directory), lab["name"], lab["id"]), record, entry


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
    out.update(_rates(conf))
    return out


def _rates(conf: dict) -> dict:
    """`max_tx_rate`/`min_tx_rate` (Mbps, 0: none), as SR-IOV CNI passes them to `ip link set PF vf N`;
    what a driver refuses (a rate above the VF's link, a minimum above the maximum) is refused here."""
    from bondlab.world.vf import LINK_MBPS

    out = {}
    for key in ("max_tx_rate", "min_tx_rate"):
        value = conf.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise Fail(7, f'"{key}" must be a whole number of Mbps (0: no limit), got {value!r}')
        if value > LINK_MBPS:
            raise Fail(7, f'"{key}" {value} Mbps is above the VF\'s link speed ({LINK_MBPS} Mbps)')
        out[key] = value
    top, floor = out.get("max_tx_rate", 0), out.get("min_tx_rate", 0)
    if top and floor > top:
        raise Fail(7, f'"min_tx_rate" {floor} Mbps is above "max_tx_rate" {top} Mbps')
    return out


def _netns_name(path: str) -> str:
    """The lab's name of the netns at CNI_NETNS: /run/netns/NAME, or a container's /proc/PID/ns/net that
    the lab attached under a name (same nsfs inode)."""
    name = os.path.basename(path)
    if path == f"/run/netns/{name}" or not os.path.exists(path):
        return name
    wanted = os.stat(path)
    for entry in os.listdir("/run/netns"):
        found = os.stat(f"/run/netns/{entry}")
        if (found.st_dev, found.st_ino) == (wanted.st_dev, wanted.st_ino):
            return entry
    return name


def _ipam(command: str, conf: dict, env) -> dict:
    """Exec the NAD's IPAM plugin as SR-IOV CNI does (ipam.ExecAdd/ExecDel): the same stdin, the CNI env.
    Returns the ADD result ({} for DEL or no `ipam`)."""
    import subprocess

    kind = (conf.get("ipam") or {}).get("type")
    if not kind:
        return {}
    dirs = [d for d in env.get("CNI_PATH", "").split(os.pathsep) if d]
    exe = next((os.path.join(d, kind) for d in dirs if os.access(os.path.join(d, kind), os.X_OK)), None)
    if exe is None:
        raise Fail(7, f'failed to find plugin "{kind}" in path {dirs}')
    proc = subprocess.run(
        [exe], input=json.dumps(conf), capture_output=True, text=True, env={**env, "CNI_COMMAND": command}
    )
    if proc.returncode != 0:
        try:
            said = json.loads(proc.stdout)
        except ValueError:
            said = {"msg": f"exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-300:]}"}
        raise Fail(
            int(said.get("code", 999)), f"IPAM {kind} {command}: {said.get('msg')}", said.get("details", "")
        )
    return json.loads(proc.stdout) if command == "ADD" and proc.stdout.strip() else {}


def _configure_ips(pod: str, ifname: str, result: dict) -> None:
    """Addresses and routes of an IPAM result on the VF in the pod (one `ip -batch`), as CNI's
    ipam.ConfigureIface does: a route without a gateway goes via the gateway of its address family."""
    from bondlab.world.netns import batch

    lines, gateways = [], {}
    for ip in result.get("ips", []):
        lines.append(f"addr add {ip['address']} dev {ifname}")
        if ip.get("gateway"):
            gateways.setdefault(":" in ip["gateway"], ip["gateway"])
    for route in result.get("routes", []):
        gw = route.get("gw") or gateways.get(":" in route["dst"])
        lines.append(f"route add {route['dst']}" + (f" via {gw}" if gw else "") + f" dev {ifname}")
    batch(pod, lines)


def _cache(state, env) -> str:
    return os.path.join(state.dir, "sriov", f"{env['CNI_CONTAINERID']}-{env['CNI_IFNAME']}.json")


def add(conf: dict, env) -> dict:
    """Two `ip` processes when the VF's settings are already what the NAD asks (the usual case): read the
    VF, move+rename+up it in one request; each setting that changes costs its own."""
    from bondlab.world import vf
    from bondlab.world.netns import Netns

    pci = conf.get("deviceID") or conf.get("pciBusID")
    if not pci:
        raise Fail(
            7, "VF pci addr is required (no deviceID: does the NAD name a resourceName the pod requests?)"
        )
    state, record, entry = _find(pci)
    node, index = Netns(record.nodens), entry.index
    pod, ifname = _netns_name(env["CNI_NETNS"]), env["CNI_IFNAME"]
    shown = node.ip("-j", "link", "show", "dev", entry.netdev, check=False)
    if shown.returncode != 0:
        raise Fail(11, f"VF {pci} ({entry.netdev}) is not on the node: already in use?")
    link = json.loads(shown.stdout)[0]
    settings = _settings(conf)
    original = vf.vf_config(state, record, index)
    saved = {
        "pci": pci,
        "settings": settings,
        "original": original,
        "mac": link["address"],
        "mtu": link["mtu"],
        "netns": f"/run/netns/{pod}",
    }
    os.makedirs(os.path.dirname(_cache(state, env)), exist_ok=True)
    with open(_cache(state, env), "w") as stream:
        json.dump(saved, stream)
    if settings:
        vf.configure_vf(state, record, index, settings, before=original)
    # One RTM_NEWLINK: the kernel moves it first, then renames it and sets it up in the pod's netns.
    node.ip("link", "set", "dev", entry.netdev, "netns", pod, "name", ifname, "up")
    mac = settings.get("mac") or link["address"]
    result = {
        "cniVersion": conf.get("cniVersion") or "0.3.1",
        "interfaces": [{"name": ifname, "mac": mac, "sandbox": env["CNI_NETNS"]}],
        "ips": [],
        "dns": {},
    }
    if (conf.get("ipam") or {}).get("type"):
        try:
            got = _ipam("ADD", conf, env)
            _configure_ips(pod, ifname, got)
        except Exception:
            try:  # SR-IOV CNI's deferred release: IPAM DEL, the VF back, its settings reset
                delete(conf, env)
            except Fail:
                pass  # the ADD's own error is the one to report
            raise
        result["ips"] = [{**ip, "interface": 0} for ip in got.get("ips", [])]
        result["routes"] = got.get("routes", [])
        result["dns"] = got.get("dns", {})
    return result


def delete(conf: dict, env) -> None:
    """Move the VF back (one `ip -batch` in the pod), restore its MAC and MTU (one `ip`), and only the
    settings ADD changed. A VF that died with its netns is made again first."""
    from bondlab.world import vf
    from bondlab.world.netns import CommandError, Netns, batch

    try:
        _ipam("DEL", conf, env)  # first, as SR-IOV CNI does; host-local releases by container ID
        failed = None
    except Fail as error:
        failed = error  # still give the VF back; report it at the end
    cache = os.path.join(_lab_dir(), "sriov", f"{env['CNI_CONTAINERID']}-{env['CNI_IFNAME']}.json")
    try:
        with open(cache) as stream:
            saved = json.load(stream)
    except FileNotFoundError:
        if failed:
            raise failed from None
        return  # nothing of ours: DEL must succeed (kubelet would loop otherwise)
    state, record, entry = _find(saved["pci"])
    node, index = Netns(record.nodens), entry.index
    pod, ifname = os.path.basename(saved["netns"]), env["CNI_IFNAME"]
    if os.path.exists(f"/run/netns/{pod}"):
        try:
            batch(
                pod,
                [
                    f"link set dev {ifname} down nomaster",
                    f"link set dev {ifname} netns {record.nodens} name {entry.netdev}",
                ],
            )
        except CommandError:
            pass  # not in the pod (any more): it is on the node, or gone with a netns
    restore = ["link", "set", "dev", entry.netdev, "address", saved["mac"], "mtu", str(saved["mtu"])]
    if node.ip(*restore, check=False).returncode != 0:
        vf.recreate_vf(state, record, index)
        node.ip(*restore)
    undo = {key: saved["original"].get(key) for key in saved["settings"]}
    if undo:
        current = {**saved["original"], **saved["settings"]}
        vf.configure_vf(state, record, index, undo, before=current)
    os.unlink(cache)
    if failed:
        raise failed


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
