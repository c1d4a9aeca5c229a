"""The lab's typed records (world.records): their JSON round trip, the lab state that holds them, what the
runtime records from a CNI ADD result, and name resolution over them (run.names) - no root, no kernel."""

from __future__ import annotations

import json

import pytest

from bondlab.cni import multus
from bondlab.run.names import Names
from bondlab.world.labstate import LabError, LabState
from bondlab.world.records import Cable, Delegate, Docker, Peer, Pf, Pod, Vf

BOND_CONFIG = {
    "cniVersion": "1.0.0",
    "name": "bond-net",
    "type": "bond",
    "mode": "active-backup",
    "linksInContainer": True,
    "links": [{"name": "net1"}, {"name": "net2"}],
}


def pf(node: str, name: str, prefix: str, vfs: int, bus: int) -> Pf:
    return Pf(
        node=node,
        nodens=f"bl-abc123-node-{node}",
        name=name,
        backend="veth",
        switch=prefix,
        port=f"{prefix}pf",
        uplink=f"{prefix}up",
        resource="intel.com/sriov" if vfs else "",
        pci=f"0000:{bus:02x}:00.0",
        mtu=1500,
        vfs=tuple(Vf(i, f"{name}v{i}", f"{prefix}v{i}", f"0000:{bus:02x}:00.{i + 1}") for i in range(vfs)),
    )


PF0, PF1, HOST = (
    pf("node1", "ens1f0", "n0p0", 2, 0x3B),
    pf("node1", "ens2f0", "n0p1", 2, 0x3C),
    pf("node1", "eth9", "n0p2", 0, 0x3D),
)
GW = Peer("gw", "bl-abc123-peer-gw", "core", ("10.56.217.1/24",), 0)


def bonded_pod() -> Pod:
    return Pod(
        seq=1,
        key="default/test-pod",
        name="test-pod",
        namespace="default",
        node="node1",
        netns="bl-abc123-pod-default-test-pod",
        container_id="c0ffee",
        uid="1234",
        devices={"intel.com/sriov": [PF0.vfs[0].pci, PF1.vfs[0].pci]},
        bond="bond0",
        slaves=("net1", "net2"),
        cables=(
            Cable("net1", PF0.path, PF0.vfs[0].port, 0, PF0.vfs[0].pci),
            Cable("net2", PF1.path, PF1.vfs[0].port, 0, PF1.vfs[0].pci),
        ),
        addresses={"bond0": ("10.56.217.10/24",)},
        delegates=(
            Delegate("default/sriov-a", "net1", {"type": "sriov"}, PF0.vfs[0].pci),
            Delegate("default/bond-net", "bond0", BOND_CONFIG),
        ),
        results={"bond0": {"ips": [{"address": "10.56.217.10/24"}]}},
    )


def lab(tmp_path, pods=()) -> LabState:
    state = LabState(tmp_path, "t", "abc123", [PF0, PF1, HOST], [GW])
    for pod in pods:
        state.put_pod(pod)
    state.save()
    return state


# -- the records' round trip ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "record",
    [PF0.vfs[1], PF0, HOST, GW, Peer("vl", "ns", "node1/ens1f0", (), 1350), bonded_pod().cables[0]]
    + [bonded_pod().delegates[1], bonded_pod(), Pod(2, "ns/p", "p", "ns", "node1", "nsname", "c", "u")],
    ids=lambda record: type(record).__name__,
)
def test_a_record_survives_json(record):
    assert type(record).from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_records_are_frozen():
    with pytest.raises(AttributeError):
        PF0.name = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        bonded_pod().bond = "bond1"  # type: ignore[misc]


def test_an_unknown_key_from_an_older_lab_is_ignored():
    assert Vf.from_dict({**PF0.vfs[0].to_dict(), "gone": 1}) == PF0.vfs[0]


def test_a_pf_finds_its_vf_by_index():
    only = Pf.from_dict({**PF0.to_dict(), "vfs": [PF0.vfs[1].to_dict()]})  # as vf.lookup reads it
    assert only.vf(1) == PF0.vfs[1] and PF0.path == "node1/ens1f0"
    with pytest.raises(KeyError):
        only.vf(0)


def test_peer_device_carries_its_vlan():
    assert GW.device == "eth0" and Peer("vl", "ns", "core", (), 1350).device == "eth0.1350"


# -- the lab state on disk -------------------------------------------------------------------------
def test_lab_state_writes_and_reads_back_every_record(tmp_path):
    lab(tmp_path, [bonded_pod()])
    again = LabState.read(tmp_path)
    assert (again.pfs, again.peers, again.pods) == ([PF0, PF1, HOST], {"gw": GW}, [bonded_pod()])
    assert "pods" not in json.loads((tmp_path / "lab.json").read_text())


def test_the_lab_state_is_typed_attributes_under_lab_json_s_keys(tmp_path):
    state = lab(tmp_path)
    state.nodes, state.plugin, state.pod_backend = {"node1": "bl-abc123-node1"}, "/bin/bond", "docker"
    state.docker = Docker("unix:///run/d.sock", "bondlab/pod:1", True, 1.5, 0.25)
    state.lacp_partners, state.last_cut = {"default/test-pod": {"bond": "lag1"}}, ["n0p0v0"]
    state.defer("netns-rm", name="x")
    state.save()
    on_disk = json.loads((tmp_path / "lab.json").read_text())
    assert on_disk["docker"]["url"] == "unix:///run/d.sock" and on_disk["lacpPartners"] == state.lacp_partners
    again = LabState.read(tmp_path)
    assert (again.name, again.id, again.nodes, again.plugin, again.docker, again.last_cut) == (
        "t",
        "abc123",
        state.nodes,
        "/bin/bond",
        state.docker,
        ["n0p0v0"],
    )
    assert again.undo == [{"op": "netns-rm", "name": "x"}] and again.pod_backend == "docker"


def test_a_lab_json_written_before_the_attributes_reads_with_their_defaults(tmp_path):
    lab(tmp_path)
    (tmp_path / "lab.json").write_text(json.dumps({"name": "t", "id": "abc123", "nodes": {}}))
    again = LabState.read(tmp_path)
    assert (again.pod_backend, again.docker, again.lacp_partners, again.last_cut) == ("netns", None, {}, [])


def test_put_pod_replaces_the_record_with_its_seq_and_forget_removes_it(tmp_path):
    state = lab(tmp_path, [bonded_pod()])
    other = Pod(state.next_seq(), "ns/p", "p", "ns", "node1", "nsname", "c", "u")
    state.put_pod(other)
    changed = state.put_pod(bonded_pod().without_last_delegate())
    assert [p.seq for p in state.pods] == [1, 2] and state.pods[0] == changed
    assert [d.ifname for d in LabState.read(tmp_path).pods[0].delegates] == ["net1"]
    state.forget_pod(changed)
    assert [p.key for p in LabState.read(tmp_path).pods] == ["ns/p"]


def test_lookups_name_what_is_missing(tmp_path):
    state = lab(tmp_path, [bonded_pod()])
    assert state.pod("test-pod") is state.pod("default/test-pod")
    assert state.pf("node1", "ens2f0") == PF1
    with pytest.raises(LabError, match="no pod 'x' in lab t \\(pods: default/test-pod\\)"):
        state.pod("x")
    with pytest.raises(LabError, match="no PF 'ens9' on node 'node1'"):
        state.pf("node1", "ens9")


# -- what the runtime records from an ADD result ---------------------------------------------------
def test_the_bond_result_gives_slaves_addresses_and_host_link_cables(tmp_path):
    state = lab(tmp_path)
    pod = Pod(1, "default/p", "p", "default", "node1", "ns", "c", "u", bond="bond0")
    result = {
        "interfaces": [{"name": "bond0", "sandbox": "/x"}, {"name": "net1"}, {"name": "eth9"}],
        "ips": [{"address": "10.0.0.2/24", "interface": 0}, {"address": "fd00::2/64", "interface": 0}],
    }
    got = multus._added(state, pod, Delegate("default/bond-net", "bond0", BOND_CONFIG), result)
    assert got.slaves == ("net1", "eth9") and got.addresses == {"bond0": ("10.0.0.2/24", "fd00::2/64")}
    assert got.cables == (Cable("eth9", HOST.path, HOST.port),) and got.results["bond0"] is result


def test_a_bond_result_without_slaves_falls_back_to_the_config_links(tmp_path):
    """Upstream's plugin reports only the bond."""
    pod = Pod(1, "default/p", "p", "default", "node1", "ns", "c", "u", bond="bond0")
    got = multus._added(
        lab(tmp_path), pod, Delegate("n/b", "bond0", BOND_CONFIG), {"interfaces": [{"name": "bond0"}]}
    )
    assert got.slaves == ("net1", "net2") and got.addresses == {"bond0": ()}


def test_a_non_bond_result_records_only_its_addresses(tmp_path):
    pod = Pod(1, "default/p", "p", "default", "node1", "ns", "c", "u", bond="bond0")
    got = multus._added(lab(tmp_path), pod, Delegate("n/s", "net1", {}), {"ip4": {"ip": "10.1.0.2/24"}})
    assert got.addresses == {"net1": ("10.1.0.2/24",)} and got.slaves == () and got.cables == ()


def test_vf_cables_come_from_the_devices_deploy_handed_out(tmp_path):
    delegates = [Delegate("n/a", "net1", {}, PF1.vfs[1].pci), Delegate("n/b", "bond0", BOND_CONFIG)]
    assert list(multus._vf_cables(lab(tmp_path), delegates)) == [
        Cable("net1", PF1.path, PF1.vfs[1].port, 1, PF1.vfs[1].pci)
    ]


# -- name resolution over the records ----------------------------------------------------------------
@pytest.fixture
def names(tmp_path) -> Names:
    plain = Pod(2, "default/plain", "plain", "default", "node1", "plain-ns", "c", "u")
    return Names(lab(tmp_path, [bonded_pod(), plain]))


@pytest.mark.parametrize("name", ["test-pod", "default/test-pod", "test-pod/bond0"])
def test_a_pod_by_name_namespace_or_pod_and_bond(names, name):
    assert names.pod(name).key == "default/test-pod"


def test_bond_slaves_and_ports_as_deploy_recorded_them(names):
    pod = names.pod("test-pod")
    assert names.bond_of(pod) == "bond0" and names.slaves(pod) == ["net1", "net2"]
    assert names.slave_port("test-pod/net1") == "n0p0v0" and names.slave_port("test-pod/net2") == "n0p1v0"
    assert names.vf_of("test-pod/net2") == (PF1, 0)
    assert names.pod_ns("test-pod").name == "bl-abc123-pod-default-test-pod"


def test_what_is_not_cabled_or_bonded_is_a_lab_error(names):
    with pytest.raises(LabError, match="test-pod/bond0: not a VF or host link"):
        names.slave_port("test-pod/bond0")
    with pytest.raises(LabError, match="test-pod/eth0: not a VF"):
        names.vf_of("test-pod/eth0")
    with pytest.raises(LabError, match="pod default/plain has no bond"):
        names.slaves(names.pod("plain"))
    with pytest.raises(LabError, match="no pod 'nope'"):
        names.pod("nope/bond0")


def test_endpoints_of_pods_and_peers(names):
    assert names.endpoint("gw") == ("bl-abc123-peer-gw", ["10.56.217.1"], "peer")
    assert names.endpoint("test-pod") == ("bl-abc123-pod-default-test-pod", ["10.56.217.10/24"], "pod")
    assert names.endpoint("default/test-pod")[1] == ["10.56.217.10/24"]
    assert names.endpoint("test-pod/net1")[1] == []
    assert names.address_for(["10.56.217.10/24"], ["192.0.2.1", "10.56.217.1"]) == "10.56.217.1"
