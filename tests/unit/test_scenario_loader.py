"""Scenario loader and schema validator (bondlab.model.scenario): errors name file, line and path; durations;
discovery skips lib/ (no root, no kernel)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from bondlab.model import scenario, schema
from bondlab.model.yamlsrc import SourceError
from bondlab.util.paths import REPO

HEAD = """apiVersion: bondlab/v1
kind: Scenario
metadata: {name: t}
spec:
"""


def load(tmp_path, body: str, name: str = "s.yaml"):
    path = tmp_path / name
    path.write_text(HEAD + body)
    return scenario.load(str(path))


def error(tmp_path, body: str) -> str:
    with pytest.raises(SourceError) as got:
        load(tmp_path, body)
    return str(got.value)


def test_a_valid_file_loads_its_steps_with_their_lines(tmp_path):
    scen = load(tmp_path, "  traffic: {rate: 500}\n  steps:\n    - cut: {vf: p/net1}\n    - wait: 300ms\n")
    assert scen.name == "t" and scen.rate == 500 and [s.kind for s in scen.steps] == ["cut", "wait"]
    assert scen.steps[1].where.endswith("s.yaml:8") and scen.files == (str(tmp_path / "s.yaml"),)


def test_unknown_key_names_file_line_and_path(tmp_path):
    text = error(tmp_path, "  steps:\n    - cut: {vff: p/net1}\n")
    assert text.startswith(f"{tmp_path}/s.yaml:6: Scenario t: spec.steps[0].cut")
    assert "unknown key 'vff'" in text


def test_missing_required_key(tmp_path):
    assert "missing required key 'steps'" in error(tmp_path, "  description: x\n")


def test_wrong_type_and_enum(tmp_path):
    assert "expected integer" in error(tmp_path, "  traffic: {rate: fast}\n  steps: [{wait: 1s}]\n")
    text = error(tmp_path, "  steps:\n    - linkState: {vf: p/net1, state: off}\n")
    assert "spec.steps[0].linkState.state" in text and "expected one of" in text


def test_a_step_is_exactly_one_action(tmp_path):
    assert "expected exactly one of" in error(tmp_path, "  steps:\n    - {cut: {vf: a/b}, wait: 1s}\n")


def test_first_document_must_be_a_scenario(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("kind: Pod\n")
    with pytest.raises(SourceError, match="first YAML document must be `kind: Scenario`"):
        scenario.load(str(path))


def test_missing_lab_file_is_an_error_at_its_line(tmp_path):
    text = error(tmp_path, "  lab: {files: [nope.yaml]}\n  steps: [{wait: 1s}]\n")
    assert "no such file 'nope.yaml'" in text and "spec.lab.files[0]" in text


def test_unreadable_file(tmp_path):
    with pytest.raises(SourceError, match="cannot read"):
        scenario.load(str(tmp_path / "absent.yaml"))


@pytest.mark.parametrize("text,seconds", [("100ms", 0.1), ("1.5s", 1.5), (250, 0.25), ("2s", 2.0)])
def test_durations(text, seconds):
    assert schema.duration(text) == pytest.approx(seconds)


def test_validator_subset_directly():
    node = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer", "minimum": 1}}}
    with pytest.raises(SourceError, match="must be at least 1"):
        schema.validate({"a": 0}, node, "x", None, None, "S")
    with pytest.raises(SourceError, match="expected integer"):
        schema.validate({"a": True}, node, "x", None, None, "S")  # a bool is not an integer
    schema.validate({"a": 3}, node, "x", None, None, "S")


def test_discover_skips_lib_and_sorts(tmp_path):
    for rel in ("b/2.yaml", "a/1.yaml", "lib/shared.yaml", "a/notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    assert [p.replace(str(tmp_path) + "/", "") for p in scenario.discover([str(tmp_path)])] == [
        "a/1.yaml",
        "b/2.yaml",
    ]


def test_every_library_file_loads():
    files = scenario.discover([str(REPO / "scenarios"), str(REPO / "benchmarks")])
    assert files and all(scenario.load(f).name for f in files)


def test_lacp_partner_and_lacp_expectation(tmp_path):
    scen = load(
        tmp_path,
        "  steps:\n    - lacpPartner: {pod: p}\n"
        "    - expect: {lacp: {link: p/net1, state: negotiated, within: 6s}}\n",
    )
    assert [s.kind for s in scen.steps] == ["lacpPartner", "expect"] and scen.steps[0].is_action
    text = error(tmp_path, "  steps:\n    - expect: {lacp: {link: p/net1, state: bundled}}\n")
    assert "s.yaml:6" in text and "spec.steps[0].expect.lacp.state" in text and "negotiated" in text


def test_a_misbehaving_lacp_partner_and_the_aggregator_expectation(tmp_path):
    scen = load(
        tmp_path,
        "  steps:\n    - lacpPartner: {pod: p, behaviour: out-of-sync, links: [p/net2]}\n"
        "    - expect: {aggregator: {links: [p/net1, p/net2], same: false, inActiveAggregator: 1,\n"
        "        within: 6s}}\n",
    )
    partner, expect = scen.steps
    assert partner.args == {"pod": "p", "behaviour": "out-of-sync", "links": ["p/net2"]}
    assert expect.args["aggregator"]["within"] == 6.0 and expect.args["aggregator"]["same"] is False
    text = error(tmp_path, "  steps:\n    - lacpPartner: {pod: p, behaviour: liar}\n")
    assert "s.yaml:6" in text and "spec.steps[0].lacpPartner.behaviour" in text and "wrong-key" in text
    text = error(
        tmp_path, "  steps:\n    - expect: {aggregator: {links: [p/net1], inActiveAggregator: -1}}\n"
    )
    assert "spec.steps[0].expect.aggregator.inActiveAggregator" in text and "at least 0" in text


def test_a_scenario_is_resolved_once_typed_and_frozen(tmp_path):
    scen = load(
        tmp_path,
        "  traffic: {rate: 300, flows: [{from: p, to: gw, sessions: 2},\n"
        "    {from: q, to: gw, bidirectional: false}]}\n"
        "  steps:\n    - cut: {vf: p/net1}\n    - expect: {outage: {max: 1s, flow: gw -> p}}\n",
    )
    assert [f.name for f in scen.flows] == ["p -> gw", "gw -> p", "q -> gw"]
    assert scen.flows[0].shape is scen.flows[1].shape and scen.flows[0].shape.sessions == 2
    assert scen.flows[0].src.where == f"{tmp_path}/s.yaml:5" and scen.flows[2].rate == 300
    assert [n.text for n in scen.steps[0].names] == ["p/net1"] and scen.steps[1].flows[0].name == "gw -> p"
    assert not hasattr(scen, "doc")  # no YAML kept to walk again
    with pytest.raises(dataclasses.FrozenInstanceError):
        scen.rate = 1


def test_model_imports_nothing_from_the_layers_above_it():
    code = (
        "import sys\nimport bondlab.model.scenario\n"
        "above = ('bondlab.run', 'bondlab.world', 'bondlab.cni')\n"
        "print(sorted(m for m in sys.modules if m.startswith(above)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "written, froms, tos",
    [
        ("{from: pod-a, to: gw}", ["pod-a"], ["gw"]),  # a name, as a flow takes it
        ("{from: [pod-a, pod-b], to: [gw]}", ["pod-a", "pod-b"], ["gw"]),  # a list of them
        ("{from: pod-a, to: [gw, pod-b]}", ["pod-a"], ["gw", "pod-b"]),  # mixed
        ("{from: [], to: gw}", [], ["gw"]),  # an empty list: everyone, as before
    ],
)
def test_connectivity_takes_a_name_or_a_list_of_names_typed_as_a_list(tmp_path, written, froms, tos):
    scen = load(tmp_path, f"  steps:\n    - expect: {{connectivity: {written}}}\n")
    args = scen.steps[0].args["connectivity"]
    assert args["from"] == froms and args["to"] == tos
    assert [str(n) for n in scen.steps[0].names] == froms + tos


@pytest.mark.parametrize(
    "written, what",
    [
        ("{from: 3, to: gw}", "connectivity.from: expected a name (a pod, POD/IFACE or a peer), or a list"),
        ("{from: pod-a, to: [gw, 4]}", "connectivity.to[1]: expected string, got int"),
        ("{from: {pod: a}, to: gw}", "connectivity.from: expected a name"),
    ],
)
def test_a_bad_connectivity_end_names_file_line_and_what_was_expected(tmp_path, written, what):
    text = error(tmp_path, f"  steps:\n    - expect: {{connectivity: {written}}}\n")
    assert text.startswith(f"{tmp_path}/s.yaml:6: Scenario t: spec.steps[0].expect.{what}"), text


@pytest.mark.parametrize("links", ["p/net2", "[p/net2]"])
def test_one_link_or_a_list_of_them_where_links_are_a_set(tmp_path, links):
    scen = load(
        tmp_path,
        f"  steps:\n    - lacpPartner: {{pod: p, behaviour: silent, links: {links}}}\n"
        f"    - expect: {{aggregator: {{links: {links}, inActiveAggregator: 0}}}}\n",
    )
    partner, expect = scen.steps
    assert partner.args["links"] == ["p/net2"] and expect.args["aggregator"]["links"] == ["p/net2"]


def test_a_single_link_is_still_checked_as_a_link(tmp_path):
    text = error(tmp_path, "  steps:\n    - lacpPartner: {pod: p, links: net2}\n")
    assert text.startswith(f"{tmp_path}/s.yaml:6: Scenario t: spec.steps[0].lacpPartner.links: 'net2'"), text
    assert "POD/IFACE" in text
    text = error(tmp_path, "  steps:\n    - expect: {spread: {links: p/net1}}\n")  # a spread needs two
    assert "spec.steps[0].expect.spread.links: expected array" in text
