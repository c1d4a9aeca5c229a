"""Pure logic of the lab's model: YAML with locations, Multus annotation parsing, topology schema,
the derived default topology and the Multus-style plan (no root, no kernel)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bondlab import deploy
from bondlab.cni import multus
from bondlab.model import derive, k8s, topology, yamlsrc
from bondlab.world.labstate import LabError
from tests.labfiles import SMALL_LAB

SEEDS = Path(__file__).resolve().parents[2] / "scenarios" / "lib" / "seeds"


def prepare(text: str, **kw):
    return deploy.prepare(yamlsrc.load_all(text, "in.yaml"), **kw)


def test_yaml_syntax_error_names_file_and_line():
    with pytest.raises(yamlsrc.SourceError) as error:
        yamlsrc.load_all("a: 1\nb: [1, 2\nc: 3\n", "x.yaml")
    assert str(error.value).startswith("x.yaml:") and "not valid YAML" in str(error.value)


def test_located_values_know_their_lines():
    (doc,) = yamlsrc.load_all("kind: Pod\nmetadata:\n  name: p\n", "f.yaml")
    assert doc.where("metadata") == "f.yaml:2" and doc["metadata"].where("name") == "f.yaml:3"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a, b", [("a", None, None), ("b", None, None)]),
        ("ns1/a@eth5, b@x", [("a", "ns1", "eth5"), ("b", None, "x")]),
        (
            '[{"name": "a", "interface": "net7"}, {"name": "b", "namespace": "n"}]',
            [("a", None, "net7"), ("b", "n", None)],
        ),
        ("", []),
    ],
)
def test_network_annotation_both_forms(text, expected):
    got = k8s.parse_networks(text, "Pod p", "f:1")
    assert [(s.name, s.namespace, s.interface) for s in got] == expected


@pytest.mark.parametrize("text", ['[{"interface": "x"}]', "[{", "a@b@c", '[{"name": "a", "interface": 5}]'])
def test_bad_network_annotation_is_one_clear_error(text):
    with pytest.raises(yamlsrc.SourceError) as error:
        k8s.parse_networks(text, "Pod default/p", "f.yaml:9")
    assert "f.yaml:9: Pod default/p: metadata.annotations[k8s.v1.cni.cncf.io/networks]" in str(error.value)


def test_nad_with_invalid_json_config_names_the_nad():
    text = (
        (SEEDS / "000-sriov-bond-fixed.yaml").read_text().replace('"spoofchk":"off"', '"spoofchk" "off"', 1)
    )
    with pytest.raises(yamlsrc.SourceError) as error:
        prepare(text)
    assert "NetworkAttachmentDefinition default/sriov-net1" in str(error.value)
    assert "spec.config: not valid JSON" in str(error.value)


def test_seed_000_derives_two_pfs_one_vf_each_and_a_gateway_peer():
    got = deploy.prepare(yamlsrc.load_files([str(SEEDS / "000-sriov-bond-fixed.yaml")]))
    (node,) = got.topology.nodes
    assert [(p.name, p.vfs, p.resource) for p in node.pfs] == [
        ("ens1f0", 1, "intel.com/intel_sriov_PF_1"),
        ("ens2f0", 1, "intel.com/intel_sriov_PF_2"),
    ]
    assert got.topology.peers[0].addresses == ["10.56.217.1/24"]
    (plan,) = got.plans
    assert [(d.ifname, d.config.get("deviceID")) for d in plan.delegates] == [
        ("net1", "0000:10:02.0"),
        ("net2", "0000:11:02.0"),
        ("bond0", None),
    ]
    assert plan.delegates[0].config["pciBusID"] == "0000:10:02.0"


def test_seed_000_as_published_is_reported_like_multus():
    with pytest.raises(LabError) as error:
        deploy.prepare(yamlsrc.load_files([str(SEEDS / "000-sriov-bond.yaml")]))
    assert 'network-attachment-definitions.k8s.cni.cncf.io "bond-net" not found' in str(error.value)


def test_default_interface_names_follow_position():
    text = (
        "kind: Pod\nmetadata:\n  name: p\n  annotations:\n"
        "    k8s.v1.cni.cncf.io/networks: a, b@x, a\n---\n"
        "kind: NetworkAttachmentDefinition\nmetadata: {name: a}\n"
        'spec: {config: \'{"type": "host-local"}\'}\n---\n'
        "kind: NetworkAttachmentDefinition\nmetadata: {name: b}\n"
        'spec: {config: \'{"type": "bridge"}\'}\n'
    )
    objects = k8s.classify(yamlsrc.load_all(text))
    topo = derive.derive(objects)
    (plan,) = multus.plan(objects, topo, derive.expand_pods(objects, ["node1"]))
    assert [d.ifname for d in plan.delegates] == ["net1", "x", "net3"]


LAB = SMALL_LAB


def test_pool_without_a_free_vf_names_the_pod_and_resource():
    seed = (SEEDS / "000-sriov-bond-fixed.yaml").read_text()
    second = seed[seed.index("apiVersion: v1\nkind: Pod") :].replace("name: test-pod", "name: test-pod-2")
    with pytest.raises(LabError) as error:
        prepare(LAB + "---\n" + seed + "\n---\n" + second)
    assert "pod default/test-pod-2: Insufficient intel.com/intel_sriov_PF_1" in str(error.value)


def test_unknown_resource_name_names_the_pod():
    seed = (SEEDS / "000-sriov-bond-fixed.yaml").read_text().replace("intel_sriov_PF_2", "intel_sriov_PF_9")
    with pytest.raises(LabError) as error:
        prepare(LAB + "---\n" + seed)
    assert "intel.com/intel_sriov_PF_9 is not advertised by any node" in str(error.value)


@pytest.mark.parametrize(
    "change, path, expected",
    [
        ("vfs: 1, resource", "spec.nodes[0].pfs[0].vfs", "expected a VF count"),
        ("backend: vdpa, resource", "spec.nodes[0].pfs[0].backend", "expected one of veth, netdevsim"),
        ("color: red, resource", "spec.nodes[0].pfs[0].color", "unknown key"),
    ],
)
def test_topology_schema_errors_name_line_path_and_expectation(change, path, expected):
    text = LAB.replace("vfs: 1, resource", change, 1)
    if change.startswith("vfs"):
        text = LAB.replace("vfs: 1, resource", "vfs: -3, resource", 1)
    with pytest.raises(yamlsrc.SourceError) as error:
        topology.parse(yamlsrc.load_all(text, "t.yaml")[0])
    assert str(error.value).startswith(f"t.yaml:9: BondLab small: {path}: {expected}")


def test_daemonset_becomes_one_pod_per_node_with_host_links():
    text = (
        'kind: NetworkAttachmentDefinition\nmetadata: {name: bond0}\nspec:\n  config: \'{"type": "bond", '
        '"links": [{"name": "eth1000"}, {"name": "eth1001"}], "ipam": {"type": "host-local", '
        '"subnet": "192.0.2.0/24"}}\'\n---\nkind: DaemonSet\nmetadata: {name: bonding}\nspec:\n  template:\n'
        '    metadata:\n      annotations:\n        k8s.v1.cni.cncf.io/networks: \'[{"name": "bond0"}]\'\n'
        "    spec: {containers: [{name: c}]}\n"
    )
    got = prepare(text)
    assert [p.name for p in got.topology.nodes[0].pfs] == ["eth1000", "eth1001"]
    assert [(p.pod.name, p.pod.owner) for p in got.plans] == [("bonding-node1", "DaemonSet default/bonding")]


def test_a_peer_may_have_a_fixed_unicast_mac():
    peers = "  peers:\n    - {name: gw, switch: core, addresses: [10.9.0.1/24], mac: 02:62:6C:00:00:01}\n"
    got = topology.parse(yamlsrc.load_all(LAB + peers, "t.yaml")[0])
    assert got.peers[0].mac == "02:62:6c:00:00:01"
    with pytest.raises(yamlsrc.SourceError, match=r"spec.peers\[0\].mac: expected a unicast MAC"):
        topology.parse(yamlsrc.load_all(LAB + peers.replace("02:62", "03:62"), "t.yaml")[0])


def test_two_nodes_from_pod_node_names_get_peers_named_per_node():
    """Both nodes have ens1f0, as real nodes do: the peer behind each PF's switch is named after its node
    (a one-node lab keeps `peer-ens1f0`)."""
    text = (SEEDS / "000-sriov-bond-fixed.yaml").read_text()
    pod = text[text.index("kind: Pod") :]
    second = pod.replace("name: test-pod", "name: pod-b").replace("spec:\n", "spec:\n  nodeName: node2\n", 1)
    first = text.replace("spec:\n  restartPolicy", "spec:\n  nodeName: node1\n  restartPolicy")
    got = prepare(first + "---\n" + second)
    assert [n.name for n in got.topology.nodes] == ["node1", "node2"]
    assert [(p.name, p.switch) for p in got.topology.peers[1:]] == [
        ("peer-node1-ens1f0", "node1/ens1f0"),
        ("peer-node1-ens2f0", "node1/ens2f0"),
        ("peer-node2-ens1f0", "node2/ens1f0"),
        ("peer-node2-ens2f0", "node2/ens2f0"),
    ]
    assert [p.name for p in prepare(text).topology.peers] == ["gw", "peer-ens1f0", "peer-ens2f0"]


def test_a_peer_defined_twice_is_an_error_naming_it():
    peers = (
        "  peers:\n    - {name: gw, addresses: [10.9.0.1/24]}\n    - {name: gw, addresses: [10.9.0.2/24]}\n"
    )
    with pytest.raises(yamlsrc.SourceError, match="peer 'gw' is defined twice"):
        topology.parse(yamlsrc.load_all(LAB + peers, "t.yaml")[0])


def test_bench_lab_spreads_pods_over_nodes_each_with_its_own_range():
    from bondlab.bench import lab as labbench

    got = prepare(labbench.manifest(5, nodes=2))
    assert [(n.name, [p.vfs for p in n.pfs]) for n in got.topology.nodes] == [
        ("node1", [3, 3]),
        ("node2", [3, 3]),
    ]
    assert [(p.pod.name, p.pod.node, p.delegates[-1].nad) for p in got.plans][:2] == [
        ("pod-0", "node1", "default/bond-net1"),
        ("pod-1", "node2", "default/bond-net2"),
    ]
    with pytest.raises(ValueError, match="nodes: expected 1..250"):
        labbench.manifest(1, nodes=0)


def test_a_loop_of_switch_cables_is_refused_with_file_and_line():
    text = (
        "apiVersion: bondlab/v1\nkind: BondLab\nmetadata: {name: loop}\nspec:\n"
        "  switches:\n    - {name: tor-a, uplinks: [core]}\n    - {name: tor-b, uplinks: [core, tor-a]}\n"
        "  nodes:\n    - name: node1\n      pfs: [{name: ens1f0, vfs: 1, switch: tor-c}]\n"
    )
    with pytest.raises(
        yamlsrc.SourceError, match=r"t.yaml:10: .*spec.nodes\[0\].pfs\[0\].switch: expected a switch"
    ):
        deploy.prepare(yamlsrc.load_all(text, "t.yaml"))
    with pytest.raises(
        yamlsrc.SourceError, match="the switches' cables form a loop \\(tor-a - core - tor-b - tor-a\\)"
    ):
        deploy.prepare(yamlsrc.load_all(text.replace("tor-c", "tor-a"), "t.yaml"))


def test_an_mlag_pair_is_two_switches_and_a_bad_one_is_refused_with_file_and_line():
    text = (
        "apiVersion: bondlab/v1\nkind: BondLab\nmetadata: {name: mlag}\nspec:\n"
        "  switches:\n    - {name: tor-a, uplinks: [core], mlag: tor}\n"
        "    - {name: tor-b, uplinks: [core], mlag: tor}\n    - {name: tor-c, uplinks: [core]}\n"
        "  nodes:\n    - name: node1\n      pfs: [{name: ens1f0, vfs: 1, switch: tor-a}]\n"
    )
    got = topology.parse(yamlsrc.load_all(text, "t.yaml")[0])
    assert [(sw.name, sw.mlag) for sw in got.switches] == [("tor-a", "tor"), ("tor-b", "tor"), ("tor-c", "")]
    lone = text.replace(
        "mlag: tor}\n    - {name: tor-b, uplinks: [core], mlag: tor}",
        "mlag: tor}\n    - {name: tor-b, uplinks: [core]}",
    )
    with pytest.raises(
        yamlsrc.SourceError,
        match=r"t.yaml:6: .*spec.switches\[0\].mlag: expected a pair name that exactly one other",
    ):
        topology.parse(yamlsrc.load_all(lone, "t.yaml")[0])
    three = text.replace("{name: tor-c, uplinks: [core]}", "{name: tor-c, uplinks: [core], mlag: tor}")
    with pytest.raises(yamlsrc.SourceError, match=r"an MLAG pair is two switches\), got 'tor' on 3"):
        topology.parse(yamlsrc.load_all(three, "t.yaml")[0])
    with pytest.raises(yamlsrc.SourceError, match=r"spec.switches\[2\].mlag: expected an MLAG pair's name"):
        topology.parse(
            yamlsrc.load_all(
                text.replace("{name: tor-c, uplinks: [core]}", "{name: tor-c, mlag: X}"), "t.yaml"
            )[0]
        )


def test_derived_tors_a_and_b_are_an_mlag_pair():
    assert [(sw.name, sw.mlag) for sw in derive.tors(3)] == [
        ("tor-a", "tor-ab"),
        ("tor-b", "tor-ab"),
        ("tor-c", ""),
    ]
    assert derive.tors(1) == []


def test_the_cabling_of_a_derived_two_pool_lab_is_the_clusters():
    got = prepare((SEEDS / "000-sriov-bond-fixed.yaml").read_text()).topology.cabling()
    assert got == [
        {"switch": "core", "mlag": "", "cabled_to": ["tor-a", "tor-b"], "pf_cables": []},
        {"switch": "tor-a", "mlag": "tor-ab", "cabled_to": ["core"], "pf_cables": ["node1/ens1f0"]},
        {"switch": "tor-b", "mlag": "tor-ab", "cabled_to": ["core"], "pf_cables": ["node1/ens2f0"]},
    ]
