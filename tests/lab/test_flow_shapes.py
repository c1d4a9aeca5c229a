"""Flow shapes on a real kernel: each scenario of scenarios/traffic/ run with capture "all", its pcapng read
back with scapy showing the shaped frames at the slaves' switch ports - TOS and TTL from a template, the
802.1Q tag and priority, IPv6, 16 source MACs - and the macs-layer2 scenario failing (`spread`) when its
flow has one MAC."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.utils import rdpcap

from bondlab.run.runner import Capture
from bondlab.traffic.wire import PORT
from bondlab.util.paths import REPO
from tests.labfiles import run_file, swapped

pytestmark = pytest.mark.kernel

TRAFFIC = REPO / "scenarios" / "traffic"
PITFALLS = REPO / "scenarios" / "pitfalls"
SLAVES = {"test-pod/net1", "test-pod/net2"}


def probes_of(tmp_path, name: str) -> list:
    """Run scenarios/traffic/NAME.yaml with capture "all"; the probes its pcapng holds, both directions."""
    got = run_file(str(TRAFFIC / f"{name}.yaml"), capture=Capture("all", str(tmp_path)))
    assert got.status == "passed", got.message
    packets = rdpcap(str(tmp_path / got.capture))
    probes = [p for p in packets if UDP in p and p[UDP].dport == PORT]
    assert {p.sniffed_on for p in probes} == SLAVES  # a peer's tap holds its ARP/ND only
    assert len(probes) > 500
    return probes


def test_a_template_shapes_every_probe(tmp_path, lab_state, untouched):
    probes = probes_of(tmp_path, "packet-template")
    assert {(p[IP].tos, p[IP].ttl) for p in probes} == {(0x10, 9)}
    assert len({(p[IP].src, p[UDP].sport) for p in probes}) == 8  # 4 sessions each way


def test_vlan_flows_cross_tagged(tmp_path, lab_state, untouched):
    probes = probes_of(tmp_path, "vlan-tagged")
    assert {(p[Dot1Q].vlan, p[Dot1Q].prio) for p in probes if Dot1Q in p} == {(100, 5)}
    assert all(Dot1Q in p for p in probes)


def test_ipv6_flows_are_ipv6_on_the_wire(tmp_path, lab_state, untouched):
    probes = probes_of(tmp_path, "ipv6")
    assert all(IPv6 in p and IP not in p for p in probes)
    assert {p[IPv6].src for p in probes} >= {"fd00:56:217::1"}


def test_macs_send_from_distinct_source_macs(tmp_path, lab_state, untouched):
    probes = probes_of(tmp_path, "macs-layer2")
    sources = {p[Ether].src for p in probes}
    assert len(sources) == 16 and sum(mac.startswith("02:62:6c:") for mac in sources) == 15, sources
    per_slave = {label: {p[Ether].src for p in probes if p.sniffed_on == label} for label in SLAVES}
    assert all(per_slave.values()) and not set.intersection(*per_slave.values()), per_slave  # layer2: by MAC


def test_with_one_mac_a_layer2_bond_puts_every_session_on_one_slave(tmp_path, lab_state, untouched):
    path = swapped(
        TRAFFIC / "macs-layer2.yaml", "sessions: 16, macs: 16", "sessions: 16, macs: 1", tmp_path / "s.yaml"
    )
    got = run_file(str(path))
    assert got.status == "failed", got.message
    assert "spread: " in got.message and "carried 0% of the probes" in got.message, got.message


def test_frames_of_their_own_keep_their_macs_when_failovermac_moves_the_bonds(tmp_path, lab_state, untouched):
    """failOverMac 1 gives the bond net2's MAC at failover and the VFs spoof-check their MACs: a template
    flow's frames must leave from the bond's new MAC and come to it (the gw's neighbour entry, updated by the
    bond's gratuitous ARP), as the kernel's own do - or traffic stops at the failover."""
    path = swapped(
        PITFALLS / "spoofchk-failovermac-1.yaml",
        "flows: [{from: test-pod, to: gw}]",
        'flows: [{from: test-pod, to: gw, packet: "IP(tos=0x10)/UDP()"}]',
        tmp_path / "template.yaml",
    )
    path = swapped(path, "within: 200ms}}", "within: 200ms}, lost: {max: 400}, outage: {max: 200ms}}", path)
    got = run_file(str(path), capture=Capture("all", str(tmp_path)))
    assert got.status == "passed", got.message
    probes = [p for p in rdpcap(str(tmp_path / got.capture)) if UDP in p and p[UDP].dport == PORT]
    assert {p[IP].tos for p in probes} == {0x10}
    out = {
        label: [p[Ether].src for p in probes if p.sniffed_on == label and p[IP].dst.endswith(".1")]
        for label in SLAVES
    }  # to the gw (10.56.217.1)
    came = {
        label: {p[Ether].dst for p in probes if p.sniffed_on == label and p[IP].src.endswith(".1")}
        for label in SLAVES
    }
    (old,) = set(out["test-pod/net1"])  # the bond's MAC before: net1's
    new = out["test-pod/net2"][-1]  # after: net2's; the tap sees the few sent before the helper read it
    assert new != old and out["test-pod/net2"].count(new) > 0.9 * len(out["test-pod/net2"]), out
    assert came == {"test-pod/net1": {old}, "test-pod/net2": {new}}, came
