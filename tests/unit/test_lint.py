"""bondlab lint: one generated config per pitfall, and the seeds' YAML (published and fixed)."""

from __future__ import annotations

import json
import os

import pytest

from bondlab.cli.main import main
from bondlab.lint import inputs, placement, registry, rules  # noqa: F401 (the rules register)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEEDS = os.path.join(ROOT, "scenarios", "lib", "seeds")
BOND = {
    "type": "bond",
    "cniVersion": "0.3.1",
    "name": "bond-net",
    "mode": "active-backup",
    "failOverMac": 1,
    "linksInContainer": True,
    "miimon": "100",
    "links": [{"name": "net1"}, {"name": "net2"}],
    "ipam": {"type": "host-local", "subnet": "10.56.217.0/24"},
}


def _nad(name: str, config: dict, resource: str = "") -> str:
    annotation = f"\n  annotations:\n    k8s.v1.cni.cncf.io/resourceName: {resource}" if resource else ""
    body = json.dumps(config, indent=2).replace("\n", "\n    ")
    return (
        f"apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: {name}"
        f"{annotation}\nspec:\n  config: |\n    {body}\n"
    )


def _pod(networks: str) -> str:
    return (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: test-pod\n  annotations:\n"
        f"    k8s.v1.cni.cncf.io/networks: {networks}\nspec:\n  containers: [{{name: c, image: alpine}}]\n"
    )


def _sriov(spoofchk: str = "off", mtu: int = 0) -> dict:
    return {"type": "sriov", "name": "sriov-network", "spoofchk": spoofchk, **({"mtu": mtu} if mtu else {})}


def _lab(tmp_path, bond_changes: dict, pools=("PF_1", "PF_2"), spoofchk="off", mtu=0, drop=()) -> str:
    """A seed-000-like file: two SR-IOV NADs (their pools), the bond NAD, the pod attaching all three."""
    bond = {k: v for k, v in {**BOND, **bond_changes}.items() if k not in drop}
    docs = [
        _nad("sriov-net1", _sriov(spoofchk, mtu), f"intel.com/{pools[0]}"),
        _nad("sriov-net2", _sriov(spoofchk, mtu), f"intel.com/{pools[1]}"),
        _nad("bond-net", bond),
        _pod("sriov-net1@net1, sriov-net2@net2, bond-net@bond0"),
    ]
    path = tmp_path / "lab.yaml"
    path.write_text("---\n".join(docs))
    return str(path)


def _found(*paths) -> list:
    return [(f.code, f.severity, f.line) for f in registry.run(inputs.load(list(paths)))]


def _codes(*paths) -> list:
    return [code for code, _severity, _line in _found(*paths)]


def _line(path: str, needle: str) -> int:
    """The line of `needle` in the bond's config (after the SR-IOV NADs, which also hold an mtu)."""
    with open(path) as stream:
        lines = stream.read().splitlines()
    start = next((n for n, text in enumerate(lines, 1) if "name: bond-net" in text), 0)
    return next(n for n, text in enumerate(lines, 1) if needle in text and n > start)


def test_a_sound_config_has_no_finding(tmp_path):
    assert _found(_lab(tmp_path, {})) == []


def test_the_parser_error_is_the_plugins_own_message(tmp_path):
    path = _lab(tmp_path, {"mode": "active_backup"})
    [finding] = registry.run(inputs.load([path]))
    assert (finding.code, finding.severity, finding.line) == ("parse-error", "error", _line(path, '"mode"'))
    assert "mode: expected one of balance-rr" in finding.message and "active_backup" in finding.message


def test_a_pod_naming_a_missing_nad(tmp_path):
    path = tmp_path / "pod.yaml"
    path.write_text(_nad("bond-net1", BOND) + "---\n" + _pod("bond-net@bond0"))
    [finding] = registry.run(inputs.load([str(path)]))
    assert (finding.code, finding.severity) == ("nad-not-found", "error")
    assert "did you mean 'bond-net1'?" in finding.fix


def test_two_links_from_one_pool(tmp_path):
    assert _codes(_lab(tmp_path, {}, pools=("PF_1", "PF_1"))) == ["same-pool-links"]


def test_spoofchk_on_with_failovermac_0(tmp_path):
    assert _codes(_lab(tmp_path, {"failOverMac": 0}, spoofchk="on")) == ["spoofchk-failovermac"]
    assert _codes(_lab(tmp_path, {}, spoofchk="on")) == []  # failOverMac 1: the scenario that works


@pytest.mark.parametrize("change, drop", [({"miimon": "0"}, ()), ({}, ("miimon",))])
def test_no_link_monitor(tmp_path, change, drop):
    assert _codes(_lab(tmp_path, change, drop=drop)) == ["no-link-monitor"]


def test_arp_monitor_counts_as_a_monitor(tmp_path):
    arp = {"arpInterval": 100, "arpIpTarget": ["10.56.217.1"]}
    assert _codes(_lab(tmp_path, arp, drop=("miimon",))) == ["upstream-ignores", "upstream-ignores"]


@pytest.mark.parametrize(
    "change, code, severity",
    [
        ({"mode": "balance-xor", "primary": "net1"}, "mode-refuses-option", "error"),
        ({"lacpRate": "fast"}, "mode-refuses-option", "error"),
        ({"adSelect": "count"}, "mode-refuses-option", "error"),
        ({"xmitHashPolicy": "layer3+4"}, "mode-ignores-option", "warning"),
    ],
)
def test_options_the_mode_ignores(tmp_path, change, code, severity):
    key = next(k for k in change if k != "mode")
    path = _lab(tmp_path, change)
    found = [f for f in _found(path) if f[0] != "upstream-ignores"]
    assert found == [(code, severity, _line(path, f'"{key}"'))]  # the parser's own error is not repeated


def test_delay_not_a_multiple_of_miimon(tmp_path):
    path = _lab(tmp_path, {"updelay": 250})
    [delay] = [f for f in registry.run(inputs.load([path])) if f.code != "upstream-ignores"]
    assert (delay.code, delay.severity) == ("delay-not-multiple", "error")
    assert "rounds it down to 200" in delay.message


def test_mtu_above_the_links(tmp_path):
    assert _codes(_lab(tmp_path, {"mtu": 9000}, mtu=1500)) == ["mtu-above-links"]
    assert _codes(_lab(tmp_path, {"mtu": 1500}, mtu=1500)) == []
    assert _codes(_lab(tmp_path, {"mtu": 9000})) == []  # the links' MTU is not in the file


def test_fields_upstream_ignores(tmp_path):
    path = _lab(tmp_path, {"primary": "net1", "requireDistinctPF": True})
    assert _found(path) == [
        ("upstream-ignores", "info", _line(path, '"primary"')),
        ("upstream-ignores", "info", _line(path, '"requireDistinctPF"')),
    ]


def test_conflist_and_bare_json(tmp_path):
    conflist = {"cniVersion": "0.3.1", "name": "bond-net", "plugins": [{**BOND, "miimon": "0"}]}
    path = tmp_path / "bond.json"
    path.write_text(json.dumps(conflist, indent=2))
    assert _found(str(path)) == [("no-link-monitor", "warning", _line(str(path), '"miimon"'))]


def test_seed_000_published_has_the_name_mismatch():
    path = os.path.join(SEEDS, "000-sriov-bond.yaml")
    [finding] = registry.run(inputs.load([path]))
    assert (finding.file, finding.line, finding.code) == (path, 69, "nad-not-found")
    assert "NAD default/bond-net," in finding.message and "'bond-net1'" in finding.fix


@pytest.mark.parametrize(
    "name",
    [
        "000-sriov-bond-fixed.yaml",
        "002-daemonset-host-bond-fixed.yaml",
        "002-sriov-8023ad-fixed.yaml",
        "002-sriov-8023ad-stage1.yaml",
        "003-bond-pod-fixed.yaml",
        "003-bond-nad-only.yaml",
    ],
)
def test_fixed_seeds_are_clean(name):
    assert _found(os.path.join(SEEDS, name)) == []


def test_cli_exit_codes_and_json(tmp_path, capsys):
    assert main(["lint", os.path.join(SEEDS, "000-sriov-bond-fixed.yaml")]) == 0
    assert main(["lint", "--format", "json", os.path.join(SEEDS, "000-sriov-bond.yaml")]) == 1
    [finding] = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert sorted(finding) == ["code", "file", "fix", "line", "message", "severity"]
    assert main(["lint", os.path.join(SEEDS, "002-sriov-8023ad.yaml")]) == 2  # a NAD's JSON is broken
    assert "002-sriov-8023ad.yaml:12: " in capsys.readouterr().err
    assert main(["lint", str(tmp_path / "missing.yaml")]) == 2


TOPOLOGY = """apiVersion: bondlab/v1
kind: BondLab
metadata: {name: one-pf}
spec:
  nodes:
    - name: node1
      pfs:
        - {name: ens1f0, vfs: 4, resourceName: intel.com/PF_1, mtu: 1500}
"""


def test_a_topology_gives_the_pools_pfs_and_mtu(tmp_path):
    path = _lab(tmp_path, {"mtu": 9000}, pools=("PF_1", "PF_1"))
    with open(path, "a") as stream:
        stream.write("---\n" + TOPOLOGY)
    found = {f.code: f for f in registry.run(inputs.load([path]))}
    assert sorted(found) == ["mtu-above-links", "same-pool-links"]
    assert "pool intel.com/PF_1 holds only PF ens1f0" in found["same-pool-links"].message
    assert "MTU 1500" in found["mtu-above-links"].message


@pytest.mark.parametrize("junk", [[], {}, 1.5, None, True, "x"])
def test_malformed_values_are_findings_never_tracebacks(tmp_path, junk):
    keys = ("mode", "miimon", "links", "mtu", "failOverMac", "updelay", "primary", "lacpRate")
    path = _lab(tmp_path, dict.fromkeys(keys, junk))
    assert "parse-error" in _codes(path)


def _two_node_lab(tmp_path, nodes=("node1", "node2"), daemonset=False) -> str:
    """Seed 000's NADs and one bond pod per node name (or a DaemonSet of it), one host-local range."""
    docs = [
        _nad("sriov-net1", _sriov(), "intel.com/PF_1"),
        _nad("sriov-net2", _sriov(), "intel.com/PF_2"),
        _nad("bond-net", BOND),
    ]
    pod = _pod("sriov-net1@net1, sriov-net2@net2, bond-net@bond0")
    if daemonset:
        docs.append(
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: bonded\nspec:\n  template:\n"
            + "".join("    " + line + "\n" for line in pod.split("\n", 2)[2].splitlines())
        )
    name = "pin" if daemonset else "pod"
    docs += [
        pod.replace("test-pod", f"{name}-{k}").replace("spec:\n", f"spec:\n  nodeName: {n}\n")
        for k, n in enumerate(nodes, start=1)
    ]
    path = tmp_path / "cluster.yaml"
    path.write_text("---\n".join(docs))
    return str(path)


def test_one_host_local_range_on_two_nodes_is_a_warning_naming_the_pods_and_the_fix(tmp_path):
    path = _two_node_lab(tmp_path)
    [finding] = registry.run(inputs.load([path]))
    assert (finding.code, finding.severity) == ("host-local-across-nodes", "warning")
    assert finding.line == _line(path, '"host-local"')
    assert "10.56.217.0/24" in finding.message
    assert "Pod default/pod-1 (node1), Pod default/pod-2 (node2)" in finding.message
    assert "a NAD per node with disjoint ranges" in finding.fix and "whereabouts" in finding.fix


def test_one_host_local_range_on_one_node_is_fine(tmp_path):
    assert _codes(_two_node_lab(tmp_path, nodes=("node1", "node1"))) == []


def test_a_daemonset_on_two_nodes_shares_its_range(tmp_path):
    found = registry.run(inputs.load([_two_node_lab(tmp_path, daemonset=True)]))
    [finding] = [f for f in found if f.code == "host-local-across-nodes"]
    assert "DaemonSet default/bonded (every node)" in finding.message


@pytest.mark.parametrize(
    "change, code, severity, key",
    [
        ({"mode": "802.3ad", "lacpActive": False}, "lacp-passive", "warning", "lacpActive"),
        (
            {"primary": "net1", "links": [{"name": "net1"}, {"name": "net2", "prio": 10}]},
            "prio-under-primary",
            "info",
            "primary",
        ),
        (
            {"mode": "802.3ad", "broadcastNeighbor": True},
            "needs-newer-kernel",
            "warning",
            "broadcastNeighbor",
        ),
        ({"mode": "802.3ad", "adSelect": "actor_port_prio"}, "needs-newer-kernel", "warning", "adSelect"),
        ({"coupledControl": False}, "mode-refuses-option", "error", "coupledControl"),
    ],
)
def test_recent_option_pitfalls(tmp_path, change, code, severity, key):
    path = _lab(tmp_path, change)
    found = [f for f in _found(path) if f[0] != "upstream-ignores"]
    assert found == [(code, severity, _line(path, f'"{key}"'))]


def test_two_8023ad_pods_on_one_nodes_shared_pfs_is_a_warning_naming_them(tmp_path):
    bond = {**BOND, "mode": "802.3ad", "lacpRate": "fast"}
    del bond["failOverMac"]
    docs = [
        _nad("sriov-net1", _sriov(), "intel.com/PF_1"),
        _nad("sriov-net2", _sriov(), "intel.com/PF_2"),
        _nad("bond-net", bond),
    ]
    pod = _pod("sriov-net1@net1, sriov-net2@net2, bond-net@bond0")
    path = tmp_path / "lab.yaml"
    path.write_text("---\n".join(docs + [pod, pod.replace("test-pod", "pod-b")]))
    [finding] = [f for f in registry.run(inputs.load([str(path)])) if f.code == "lacp-pods-share-pf"]
    assert finding.severity == "warning" and finding.line == _line(str(path), '"mode"')
    assert "PF_2 by Pod default/test-pod, Pod default/pod-b on (any node)" in finding.message
    assert "bond-cni#149" in finding.message and "active-backup" in finding.fix
    path.write_text("---\n".join(docs + [pod]))  # one pod per PF pair: fine
    assert "lacp-pods-share-pf" not in _codes(str(path))
    path.write_text(
        "---\n".join(
            docs + [pod, pod.replace("test-pod", "pod-b").replace("spec:\n", "spec:\n  nodeName: n2\n")]
        )
    )
    assert "lacp-pods-share-pf" not in _codes(str(path))  # two nodes: two PF pairs
