"""The fabric as SR-IOV clusters are cabled, on a real kernel: from plain YAML with two PF pools on two nodes,
PF 1 of every node lands on ToR `tor-a`, PF 2 on `tor-b`, both ToRs on `core`; a ToR that dies takes PF 1 of
every node with it (the PFs lose carrier, so do their link-state-auto VFs), every bond fails over to its
PF-2 slave, and the pods keep reaching the gateway and each other through `tor-b`. A cut cable between two
switches is seen only past it. Nothing is left behind."""

from __future__ import annotations

import pytest

from bondlab import deploy
from bondlab.util.wait import until
from bondlab.world import build, inspection
from bondlab.world.netns import Netns, batch
from tests.lab.test_nodes import RANGE_PER_NODE, _lab

pytestmark = pytest.mark.kernel


def _active(state, pod: str) -> str:
    link = Netns(state.pod(pod).netns).ip_json("-d", "link", "show", "dev", "bond0")[0]
    return link["linkinfo"]["info_data"].get("active_slave", "")


def _ping(state, pod: str, address: str) -> bool:
    ns = Netns(state.pod(pod).netns)
    return ns.exec("ping", "-c", "1", "-W", "1", address, check=False).returncode == 0


def _set(state, ports: list, up: bool) -> None:
    batch(state.netns_name("fabric"), [f"link set {port} {'up' if up else 'down'}" for port in ports])


def test_a_tor_dies_and_every_pod_fails_over_to_the_other(lab_state, untouched):
    state = deploy.deploy(_lab(RANGE_PER_NODE))
    try:
        assert sorted(state.switches) == ["core", "tor-a", "tor-b"]
        assert {(pf.path, pf.cable_to) for pf in state.pfs} == {
            ("node1/ens1f0", "tor-a"),
            ("node1/ens2f0", "tor-b"),
            ("node2/ens1f0", "tor-a"),
            ("node2/ens2f0", "tor-b"),
        }
        text = inspection.render(state)
        assert "SWITCH" in text and "node1/ens1f0 node2/ens1f0" in text and "core:up" in text
        pods = ("pod-node1", "pod-node2")
        assert [_active(state, pod) for pod in pods] == ["net1", "net1"]

        _set(state, build.switch_ports(state, "tor-a"), up=False)
        until(lambda: all(_active(state, pod) == "net2" for pod in pods), 5, "both bonds on net2")
        assert all(_ping(state, pod, "10.56.217.254") for pod in pods)  # the gateway, on core
        assert _ping(state, "pod-node1", "10.56.217.20")  # east-west, through tor-b
        assert "tor-a" in inspection.render(state) and "core:DOWN" in inspection.render(state)

        _set(state, build.switch_ports(state, "tor-a", restore=True), up=True)
        until(lambda: all(_ping(state, pod, "10.56.217.254") for pod in pods), 10, "the gateway again")
    finally:
        assert deploy.destroy(state) == []


def test_a_cable_between_switches_cut_is_seen_past_it_only(lab_state, untouched):
    state = deploy.deploy(
        _lab({"node1": ("bond-net", {}), "node2": ("bond-net", {"rangeStart": "10.56.217.100"})})
    )
    try:
        _set(state, build.switch_link_ports(state, "tor-a", "core"), up=False)
        # the bonds see no change (their PFs keep carrier: a failure beyond the first switch) ...
        assert [_active(state, pod) for pod in ("pod-node1", "pod-node2")] == ["net1", "net1"]
        # ... but the gateway behind core is gone for them, while the pods still reach each other on tor-a
        assert not _ping(state, "pod-node1", "10.56.217.254")
        assert _ping(state, "pod-node1", "10.56.217.100")
        with pytest.raises(Exception, match="no cable between switches tor-a and tor-b"):
            build.switch_link_ports(state, "tor-a", "tor-b")
    finally:
        assert deploy.destroy(state) == []
