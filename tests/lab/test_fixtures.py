"""The pytest fixtures for Python scenario tests (bondlab.pytest.fixtures) on a real kernel: a topology
built in Python, pod handles and testinfra, a bad step naming the test's line, a measurement error running the
test again with a fresh lab, and nothing left behind (`untouched`, listed first, checks after the lab's
teardown)."""

from __future__ import annotations

import pytest

from bondlab.model.topology import PF, Node, Peer, Topology
from bondlab.model.yamlsrc import SourceError
from bondlab.traffic.verdict import MeasurementError

# the pod from the shared lab input, the bond NAD from a YAML scenario (not its Scenario document)
pytestmark = pytest.mark.lab(
    "../../scenarios/lib/two-pf-pod.yaml", "../../scenarios/modes/active-backup.yaml"
)


@pytest.fixture
def topology():
    """Built in Python instead of derived: a second peer behind PF 2's switch."""
    pools = [
        PF("ens1f0", 2, "veth", "intel.com/intel_sriov_PF_1"),
        PF("ens2f0", 2, "veth", "intel.com/intel_sriov_PF_2"),
    ]
    peers = [Peer("gw", "core", ["10.56.217.1/24"]), Peer("far", "node1/ens2f0", ["10.56.217.250/24"])]
    return Topology(name="py", nodes=[Node("node1", pools)], peers=peers)


def test_topology_in_python_pod_handle_and_testinfra(lab_state, untouched, lab, pod, host):
    assert sorted(lab.peers) == ["far", "gw"] and lab.pods == ["test-pod"]
    assert pod.bond == "bond0" and sorted(pod.slaves) == ["net1", "net2"]
    state = pod.bond_state()
    assert state["mode"] == "active-backup" and state["active_slave"] == "net1" and state["up"]
    assert pod.addresses and pod.addresses[0].startswith("10.56.217.")
    assert {"bond0", "net1", "net2"} <= set(pod.links) and pod.links["net1"]["master"] == "bond0"
    assert pod.exec("ping", "-c", "1", "-W", "2", "10.56.217.250", check=False).returncode == 0
    assert lab.expect(connectivity={"from": "test-pod", "to": ["gw", "far"]}) == (
        "connectivity: 2 pair(s) connected"
    )
    assert host.interface("bond0").exists and host.backend.NAME == "netns"
    assert host.file("/sys/class/net/bond0/bonding/active_slave").content_string.strip() == "net1"


def test_a_bad_step_or_flow_names_the_test_line(lab_state, untouched, lab, traffic):
    with pytest.raises(SourceError, match=r"tests/lab/test_fixtures.py:\d+: .*cut: unknown key 'vff'"):
        lab.cut(vff="test-pod/net1")
    with pytest.raises(SourceError, match=r"test_fixtures.py:\d+: .*flows\[0\]: missing required key 'from'"):
        traffic.start({"form": "test-pod", "to": "gw"})
    with pytest.raises(Exception, match="this expectation needs traffic"):
        lab.expect(outage={"max": "100ms"})


SEEN: list = []


def test_a_measurement_error_runs_the_test_again_on_a_fresh_lab(lab_state, untouched, lab):
    SEEN.append(lab.state.id)
    if len(SEEN) == 1:
        raise MeasurementError("measurement error: injected by the test")
    assert len(SEEN) == 2 and SEEN[0] != SEEN[1]
