"""Pods on two nodes from plain YAML (nodeName), as a cluster has them: every object uniquely named across
nodes (both nodes have an ens1f0, as real nodes do), and host-local's leases on each node's own disk, so one
range used on two nodes hands out the same address twice - as it does on a real cluster - while a range per
node does not, and the pods talk east-west across the fabric."""

from __future__ import annotations

import json

import pytest

from bondlab import deploy
from bondlab.model import yamlsrc
from bondlab.world.build import node_state_dir
from bondlab.world.netns import Netns

pytestmark = pytest.mark.kernel

SRIOV = """\
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: sriov-net{n}
  annotations: {{k8s.v1.cni.cncf.io/resourceName: intel.com/PF_{n}}}
spec:
  config: '{{"type": "sriov", "name": "sriov-network", "spoofchk": "off"}}'
"""
BOND = """\
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: {name}
spec:
  config: '{config}'
"""
POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  annotations:
    k8s.v1.cni.cncf.io/networks: sriov-net1@net1, sriov-net2@net2, {nad}@bond0
spec:
  nodeName: {node}
  containers: [{{name: app, resources: {{requests: {{intel.com/PF_1: '1', intel.com/PF_2: '1'}}}}}}]
"""


def _bond(name: str, ipam: dict) -> str:
    config = {
        "type": "bond",
        "cniVersion": "0.3.1",
        "name": "bond-net",
        "mode": "active-backup",
        "miimon": "100",
        "failOverMac": 1,
        "linksInContainer": True,
        "links": [{"name": "net1"}, {"name": "net2"}],
        "ipam": {"type": "host-local", "subnet": "10.56.217.0/24", **ipam},
    }
    return BOND.format(name=name, config=json.dumps(config))


def _lab(nads: dict) -> object:
    """nads: pod node -> the bond NAD its pod names."""
    docs = [SRIOV.format(n=1), SRIOV.format(n=2)]
    docs += [_bond(nad, ipam) for nad, ipam in {nad: ipam for nad, ipam in nads.values()}.items()]
    docs += [POD.format(name=f"pod-{node}", nad=nad, node=node) for node, (nad, _ipam) in nads.items()]
    return deploy.prepare(yamlsrc.load_all("---\n".join(docs), "cluster.yaml"))


# The fix for one range on two nodes: each node's pods name that node's NAD, with a range of its own.
RANGE_PER_NODE = {
    "node1": ("bond-net-node1", {"rangeStart": "10.56.217.10", "rangeEnd": "10.56.217.19"}),
    "node2": ("bond-net-node2", {"rangeStart": "10.56.217.20", "rangeEnd": "10.56.217.29"}),
}


def _address(state, pod: str) -> str:
    return state.pod(pod).results["bond0"]["ips"][0]["address"].split("/")[0]


def test_one_host_local_range_on_two_nodes_gives_both_pods_the_same_address(lab_state, untouched):
    state = deploy.deploy(_lab({"node1": ("bond-net", {}), "node2": ("bond-net", {})}))
    try:
        assert sorted(state.peers) == [
            "gw",
            "peer-node1-ens1f0",
            "peer-node1-ens2f0",
            "peer-node2-ens1f0",
            "peer-node2-ens2f0",
        ]
        a, b = _address(state, "pod-node1"), _address(state, "pod-node2")
        assert a == b  # as on a cluster: each node's host-local knows only its own leases
        for node in ("node1", "node2"):
            assert (node_state_dir(state, node) / "networks" / "bond-net" / a).exists()
    finally:
        assert deploy.destroy(state) == []


def test_a_range_per_node_gives_distinct_addresses_and_the_pods_talk_across_nodes(lab_state, untouched):
    state = deploy.deploy(_lab(RANGE_PER_NODE))
    try:
        a, b = _address(state, "pod-node1"), _address(state, "pod-node2")
        assert (a, b) == ("10.56.217.10", "10.56.217.20")
        ping = Netns(state.pod("pod-node1").netns).exec(
            "ping", "-c", "3", "-i", "0.2", "-W", "2", b, check=False
        )
        assert ping.returncode == 0, ping.stdout + ping.stderr
    finally:
        assert deploy.destroy(state) == []
