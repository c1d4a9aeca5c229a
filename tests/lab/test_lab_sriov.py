"""The lab's sriov stand-in on a real kernel: an `ipam` section in an SR-IOV NAD is honoured (addresses
and routes on the VF in the pod, released on DEL), an IPAM failure rolls the VF back; `inspect` shows
the traffic peers."""

from __future__ import annotations

import os

import pytest

from bondlab import deploy
from bondlab.model import yamlsrc
from bondlab.world import inspection
from bondlab.world.build import node_state_dir
from bondlab.world.labstate import LabError, list_labs
from bondlab.world.netns import Netns

pytestmark = pytest.mark.kernel

MANIFEST = """\
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: sriov-ipam
  annotations: {k8s.v1.cni.cncf.io/resourceName: intel.com/sriov_a}
spec:
  config: '{"cniVersion": "0.3.1", "type": "sriov", "spoofchk": "off",
    "ipam": {"type": "IPAM", "subnet": "10.70.0.0/24", "gateway": "10.70.0.1",
             "routes": [{"dst": "0.0.0.0/0"}]}}'
---
apiVersion: v1
kind: Pod
metadata:
  name: vf-pod
  annotations: {k8s.v1.cni.cncf.io/networks: sriov-ipam}
spec:
  containers: [{name: c, resources: {requests: {intel.com/sriov_a: '1'}}}]
"""


def prepare(ipam: str):
    return deploy.prepare(yamlsrc.load_all(MANIFEST.replace("IPAM", ipam), "vf.yaml"))


def test_sriov_ipam_section_addresses_the_vf_and_del_releases_the_lease(lab_state, untouched):
    state = deploy.deploy(prepare("host-local"))
    lease = None
    try:
        pod = state.pod("vf-pod")
        ns = Netns(pod.netns)
        result = pod.results["net1"]
        (ip,) = result["ips"]
        address = ip["address"].split("/")[0]
        assert address.startswith("10.70.0.") and ip["address"].endswith("/24") and ip["interface"] == 0
        lease = node_state_dir(state, pod.node) / "networks" / "sriov-ipam" / address  # the node's own disk
        net1 = ns.ip_json("addr", "show", "dev", "net1")[0]
        assert [f"{a['local']}/{a['prefixlen']}" for a in net1["addr_info"] if a["family"] == "inet"] == [
            ip["address"]
        ]
        (default,) = ns.ip_json("route", "show", "default")
        assert default["gateway"] == "10.70.0.1" and default["dev"] == "net1"
        assert ns.exec("ping", "-c", "1", "-W", "2", "10.70.0.1", check=False).returncode == 0
        assert lease.exists() and not os.path.exists(f"/var/lib/cni/networks/sriov-ipam/{address}")
        text = inspection.render(state)
        assert "PEER" in text and "gw" in text and "10.70.0.1/24" in text
    finally:
        errors = state.unwind(deploy.HANDLERS)  # the pod's DEL, then the world (the lab dir stays)
        released = lease is not None and not lease.exists()
        state.remove()
    assert errors == [] and released


def test_sriov_ipam_failure_names_the_network_and_gives_the_vf_back(lab_state, untouched):
    with pytest.raises(LabError) as error:
        deploy.deploy(prepare("no-such-ipam"))
    message = str(error.value)
    assert "pod default/vf-pod: network default/sriov-ipam (interface net1): sriov ADD failed" in message
    assert 'failed to find plugin "no-such-ipam"' in message
    assert list_labs() == []
