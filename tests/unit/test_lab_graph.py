"""`bondlab graph` from what `bondlab inspect --format json` read on seed 000 (fixed) in the lab VM (saved in
lab_fixtures/): every object is drawn once, the active slave is marked, a link without carrier is dashed
(no root, no kernel)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from bondlab.world import graph

LAB = json.loads((Path(__file__).parent / "lab_fixtures" / "seed000-inspect.json").read_text())


def test_mermaid_draws_nodes_pfs_vfs_switches_pod_bond_and_peers():
    text = graph.mermaid(LAB)
    assert text.startswith("graph LR\n")
    for vertex in (
        'subgraph node_node1["node node1"]',
        'subgraph pf_node1_ens1f0["PF ens1f0 (veth)"]',
        'vf_node1_ens1f0_0["VF 0 0000:10:02.0"]',
        'subgraph pod_default_test_pod["pod default/test-pod"]',
        'bond_default_test_pod_bond0["bond0 active-backup 10.56.217.2/24"]',
        'sw_core["switch core"]',
        'peer_gw["peer gw 10.56.217.1/24"]',
    ):
        assert text.count(vertex) == 1, vertex
    assert "bond_default_test_pod_bond0 ===|active| if_default_test_pod_net1" in text
    assert "bond_default_test_pod_bond0 --- if_default_test_pod_net2" in text
    assert "if_default_test_pod_net2 --- vf_node1_ens2f0_0" in text
    assert "sw_n0p0 ---|uplink| sw_core" in text and "peer_gw --- sw_core" in text


def test_dot_marks_the_active_slave_and_dashes_a_cut_one():
    lab = copy.deepcopy(LAB)
    net1, net2 = lab["pods"][0]["bond"]["slaves"]
    net1.update(carrier="DOWN", mii="DOWN", active=False)
    net2["active"] = True
    text = graph.dot(lab)
    assert text.startswith('graph "lab" {') and text.rstrip().endswith("}")
    assert 'if_default_test_pod_net1 [label="net1 mii DOWN"];' in text
    assert "bond_default_test_pod_bond0 -- if_default_test_pod_net1 [style=dashed" in text
    assert 'bond_default_test_pod_bond0 -- if_default_test_pod_net2 [label="active", penwidth=3' in text
    assert "subgraph cluster_pod_default_test_pod {" in text


@pytest.mark.skipif(not shutil.which("dot"), reason="graphviz's dot is not installed (bondlab doctor --fix)")
def test_svg_is_drawn_by_graphviz():
    text = graph.svg(LAB)
    assert text.lstrip().startswith("<?xml") and "<svg" in text and "switch core" in text


def test_svg_without_dot_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    with pytest.raises(graph.GraphError) as error:
        graph.svg(LAB)
    assert "graphviz" in str(error.value)


def test_a_fabric_of_tors_draws_each_cable_once_and_each_pf_cable_to_its_tor():
    """Seed 000's lab as a derived two-pool lab is cabled now: PF 1 on tor-a, PF 2 on tor-b, both on core."""
    lab = copy.deepcopy(LAB)
    core = {"name": "core", "netns": "f", "pf": None, "cables": []}
    for name in ("tor-a", "tor-b"):
        core["cables"].append({"to": name, "port": f"{name}-b", "carrier": "up"})
        down = "DOWN" if name == "tor-b" else "up"
        lab["switches"].append(
            {
                "name": name,
                "netns": "f",
                "pf": None,
                "mlag": "tor-ab",
                "cables": [{"to": "core", "carrier": down}],
            }
        )
    lab["switches"] = [core] + [sw for sw in lab["switches"] if sw["pf"] or sw["name"] != "core"]
    for sw, tor in zip([sw for sw in lab["switches"] if sw["pf"]], ("tor-a", "tor-b")):
        sw["cable_to"] = tor
    text = graph.mermaid(lab)
    assert text.count("sw_core --- sw_tor_a") == 1 and text.count("sw_core -.- sw_tor_b") == 1
    assert "sw_n0p0 ---|uplink| sw_tor_a" in text and "sw_n0p1 ---|uplink| sw_tor_b" in text
    assert "PF node1/ens1f0's switch" in text and 'sw_tor_a["switch tor-a (MLAG tor-ab)"]' in text
