"""LACPDUs where an SR-IOV NIC puts them, on a real kernel: what a VF's bond sends to the slow-protocols
address leaves by its PF's cable and reaches the ToR port at the far end (also with spoofchk on: the bond
sends from the VF's MAC) and no other VF; what the ToR port sends back reaches every VF of that PF (and no
VF of the other PF). Counted selftest-style, with tc flower counters on the switch ports (bond_options.sh)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bondlab import deploy
from bondlab.model import yamlsrc
from bondlab.util.wait import until
from bondlab.world import lacpdu
from bondlab.world.netns import Netns, tc_batch
from bondlab.world.switch import PfSwitch
from tests.lab.test_nodes import POD, SRIOV

pytestmark = pytest.mark.kernel

BOND = {
    "type": "bond",
    "cniVersion": "0.3.1",
    "name": "bond-net",
    "mode": "802.3ad",
    "miimon": "100",
    "lacpRate": "fast",
    "linksInContainer": True,
    "links": [{"name": "net1"}, {"name": "net2"}],
    "ipam": {"type": "host-local", "subnet": "10.56.217.0/24"},
}
NAD = "apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata: {name: bond-net}\n"


def _lab():
    docs = [SRIOV.format(n=1).replace('"spoofchk": "off"', '"spoofchk": "on"'), SRIOV.format(n=2)]
    docs.append(NAD + f"spec:\n  config: '{json.dumps(BOND)}'\n")
    docs += [POD.format(name=name, nad="bond-net", node="node1") for name in ("pod-a", "pod-b")]
    return deploy.prepare(yamlsrc.load_all("---\n".join(docs), "lacp-cable.yaml"))


def _count(fabric: Netns, ports: list, hook: str) -> None:
    """A slow-protocols counter on each port's `hook` (ingress: frames entering the fabric there)."""
    lines = []
    for port in ports:
        if hook == "egress":  # the VF ports have a clsact already (their ingress program)
            lines.append(f"filter add dev {port} egress pref 1 protocol 0x8809 flower action pass")
        else:
            lines += [
                f"qdisc add dev {port} clsact",
                f"filter add dev {port} ingress pref 1 protocol 0x8809 flower action pass",
            ]
    tc_batch(fabric.name, lines)


def _counted(fabric: Netns, port: str, hook: str) -> int:
    shown = fabric.exec("tc", "-s", "-j", "filter", "show", "dev", port, hook).stdout
    return sum(
        f.get("options", {}).get("actions", [{}])[0].get("stats", {}).get("packets", 0)
        for f in json.loads(shown)
    )


def _send_at(fabric: Netns, port: str, times: int) -> None:
    """LACPDUs from the ToR port `port` (as a switch's LACP speaks there)."""
    mac = fabric.ip_json("link", "show", "dev", port)[0]["address"]
    frame = lacpdu.answer("honest", "02:00:00:00:00:99", 7, None, mac).hex()
    code = (
        "import socket,sys; s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((sys.argv[1], 0))\n"
        f"for _ in range({times}): s.send(bytes.fromhex(sys.argv[2]))"
    )
    subprocess.run(["ip", "netns", "exec", fabric.name, sys.executable, "-c", code, port, frame], check=True)


def test_lacpdus_travel_the_pf_cable_both_ways_and_never_between_vfs(lab_state, untouched):
    state = deploy.deploy(_lab())
    fabric = Netns(state.netns_name("fabric"))
    try:
        pf1, pf2 = state.pf("node1", "ens1f0"), state.pf("node1", "ens2f0")
        tor1, tor2 = PfSwitch(pf1.switch).core_port, PfSwitch(pf2.switch).core_port
        vf_ports = {pf.name: [v.port for v in pf.vfs] for pf in (pf1, pf2)}
        assert len(vf_ports["ens1f0"]) == 2
        _count(fabric, [tor1, tor2], "ingress")
        _count(fabric, vf_ports["ens1f0"] + vf_ports["ens2f0"], "egress")

        # both pods' bonds (lacpRate fast: one LACPDU a second per slave) reach each PF's ToR port ...
        until(
            lambda: min(_counted(fabric, p, "ingress") for p in (tor1, tor2)) >= 4,
            10,
            "4 LACPDUs at each ToR port",
        )
        # ... and no VF hears another VF's (nothing came from a ToR yet)
        assert [_counted(fabric, p, "egress") for p in vf_ports["ens1f0"] + vf_ports["ens2f0"]] == [0] * 4

        _send_at(fabric, tor1, 3)
        until(
            lambda: [_counted(fabric, p, "egress") for p in vf_ports["ens1f0"]] == [3, 3],
            5,
            "the ToR's 3 LACPDUs at every VF of ens1f0",
        )
        assert [_counted(fabric, p, "egress") for p in vf_ports["ens2f0"]] == [0, 0]
    finally:
        assert deploy.destroy(state) == []
