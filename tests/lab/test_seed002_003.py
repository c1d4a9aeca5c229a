"""Seeds 002 and 003 on a real kernel: each as published (an inconsistent document is reported the way
Multus would, naming the object, and nothing is left behind), then corrected (it deploys and works).

Seed 002 (StarlingX): a DaemonSet pod bonding two *host* interfaces (eth1000, eth1001 moved from the node
into the pod), and a pod with an 802.3ad bond of two SR-IOV VFs (vlan 1350 set through the PF).
Seed 003 (OpenShift): only the bond NAD; corrected with the SR-IOV NADs and the pod the page describes.
"""

from __future__ import annotations

import pytest

from bondlab import deploy
from bondlab.model import yamlsrc
from bondlab.model.yamlsrc import SourceError
from bondlab.world import build, inspection, vf
from bondlab.world.labstate import LabError, list_labs
from bondlab.world.netns import Netns
from tests.lab.conftest import SEEDS

pytestmark = pytest.mark.kernel


def links(ns: Netns) -> dict:
    return {link["ifname"]: link for link in ns.ip_json("-d", "addr", "show")}


def inet(link: dict) -> list:
    return [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", []) if a["family"] == "inet"]


def pings(ns: Netns, address: str) -> bool:
    return ns.exec("ping", "-c", "1", "-W", "2", address, check=False).returncode == 0


def test_seed_002_daemonset_as_published_fails_at_calico_ipam_naming_pod_and_network(lab_state, untouched):
    prepared = deploy.prepare(yamlsrc.load_files([str(SEEDS / "002-daemonset-host-bond.yaml")]))
    assert any(text.startswith("IPPool mypool") for text in prepared.objects.ignored)
    with pytest.raises(LabError) as error:
        deploy.deploy(prepared)
    message = str(error.value)
    assert "002-daemonset-host-bond.yaml:" in message
    assert "pod default/bonding-node1: network default/bond0 (interface net1): bond ADD failed" in message
    assert 'failed to find plugin "calico-ipam"' in message
    assert list_labs() == []


def test_seed_002_daemonset_corrected_bonds_two_host_links_in_the_daemonset_pod(lab_state, untouched):
    docs = yamlsrc.load_files([str(SEEDS / "002-daemonset-host-bond-fixed.yaml")])
    state = deploy.deploy(deploy.prepare(docs))
    try:
        pod = state.pod("bonding-node1")
        assert pod.owner == "DaemonSet default/bonding"
        got = links(Netns(pod.netns))
        assert got["net1"]["linkinfo"]["info_kind"] == "bond"
        assert got["net1"]["linkinfo"]["info_data"]["mode"] == "active-backup"
        assert got["eth1000"]["master"] == "net1" and got["eth1001"]["master"] == "net1"
        (address,) = inet(got["net1"])
        assert address.startswith("10.10.10.") and address.endswith("/24")
        node = links(Netns(state.nodes["node1"]))
        assert "eth1000" not in node and "eth1001" not in node  # taken from the host into the pod
        assert pings(Netns(pod.netns), "10.10.10.1")
    finally:
        assert deploy.destroy(state) == []


def rejected(seed: str) -> str:
    """The SourceError a seed file as published gets before anything is made; it names the file first."""
    with pytest.raises(SourceError) as error:
        deploy.prepare(yamlsrc.load_files([str(SEEDS / seed)]))
    message = str(error.value)
    assert message.startswith(f"{SEEDS / seed}:")
    return message


def test_seed_002_8023ad_as_published_names_the_nad_with_invalid_json(lab_state, untouched):
    message = rejected("002-sriov-8023ad.yaml")
    assert "NetworkAttachmentDefinition default/sriov0: spec.config: not valid JSON" in message
    assert '"vlan": 1350 "spoofchk"' in message
    assert list_labs() == []


def test_seed_002_8023ad_with_json_fixed_fails_at_the_empty_static_address(lab_state, untouched):
    with pytest.raises(LabError) as error:
        deploy.deploy(deploy.prepare(yamlsrc.load_files([str(SEEDS / "002-sriov-8023ad-stage1.yaml")])))
    message = str(error.value)
    # Multus names the bond net3: the NAD's "ifname" is not Multus's, the annotation gives no interface.
    assert "pod default/bond0: network default/bond0 (interface net3): bond ADD failed" in message
    assert "static" in message
    assert list_labs() == []


@pytest.mark.parametrize("backend", ["veth", "netdevsim"])
def test_seed_002_8023ad_corrected_bonds_two_vfs_with_vlan_set_through_the_pf(lab_state, untouched, backend):
    docs = yamlsrc.load_files([str(SEEDS / "002-sriov-8023ad-fixed.yaml")])
    state = deploy.deploy(deploy.prepare(docs, backend=backend))
    try:
        ns = Netns(state.pod("bond0").netns)
        got = links(ns)
        assert got["net3"]["linkinfo"]["info_data"]["mode"] == "802.3ad"
        assert got["net1"]["master"] == "net3" and got["net2"]["master"] == "net3"
        assert inet(got["net3"]) == ["10.20.0.10/24"]
        for record in state.pfs:
            assert vf.vf_config(state, record, 0)["vlan"] == 1350
            assert vf.vf_config(state, record, 0)["spoofchk"] is False
        # The derived peers sit on VLAN 1350 (eth0.1350), so the VLAN set through the PF is what lets the
        # pod reach them: moving both VFs to VLAN 1351 cuts the pod off, back to 1350 reconnects it.
        assert state.peers["gw"].vlan == 1350
        rows = inspection.render(state).splitlines()
        assert any(line.split()[:3] == ["gw", "core", "1350"] for line in rows)
        assert pings(ns, "10.20.0.1")
        for record in state.pfs:
            vf.configure_vf(state, record, 0, {"vlan": 1351}, before=vf.vf_config(state, record, 0))
        assert not pings(ns, "10.20.0.1")
        for record in state.pfs:
            vf.configure_vf(state, record, 0, {"vlan": 1350}, before=vf.vf_config(state, record, 0))
        assert pings(ns, "10.20.0.1")
    finally:
        assert deploy.destroy(state) == []


def test_seed_003_as_given_names_the_nad_no_pod_uses(lab_state, untouched):
    message = rejected("003-bond-nad-only.yaml")
    assert "NetworkAttachmentDefinition demo/bond-net1: no Pod or DaemonSet" in message
    assert list_labs() == []


def test_seed_003_corrected_deploys_and_fails_over_when_a_pf_cable_is_cut(lab_state, untouched):
    state = deploy.deploy(deploy.prepare(yamlsrc.load_files([str(SEEDS / "003-bond-pod-fixed.yaml")])))
    try:
        ns = Netns(state.pod("demo/bondpod1").netns)
        got = links(ns)
        assert got["net1"]["master"] == "bond0" and got["net2"]["master"] == "bond0"
        assert got["bond0"]["mtu"] == 1500
        assert inet(got["bond0"])[0].startswith("10.56.217.")
        assert pings(ns, "10.56.217.1")
        build.cut_pf(state, "node1", "ens1f0")

        def active():
            return ns.link("bond0")["linkinfo"]["info_data"].get("active_slave")

        from bondlab.util.wait import until

        until(lambda: active() == "net2", 5, "bond0 fails over to net2")
        assert pings(ns, "10.56.217.1")
    finally:
        assert deploy.destroy(state) == []
