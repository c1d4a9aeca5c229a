"""The one list of step kinds (bondlab.model.steps, bound to their handlers in bondlab.run.steps) against
the schema, the docs and the loader: every kind declared once, the schema's step and expectation kinds
are exactly the registry's, the scenario docs' tables name each one, a deferred expectation without flows
is a load error at its line, durations are parsed once (no root, no kernel)."""

from __future__ import annotations

import re

import pytest

from bondlab.model import scenario, schema, steps
from bondlab.model.steps import ACTIONS, DEFERRED, EXPECTATIONS, KINDS
from bondlab.model.yamlsrc import SourceError
from bondlab.run.steps import STEPS
from bondlab.util.paths import REPO

HEAD = """apiVersion: bondlab/v1
kind: Scenario
metadata: {name: t}
spec:
"""


def load(tmp_path, body: str):
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + body)
    return scenario.load(str(path))


def test_the_schema_declares_exactly_the_registry_kinds():
    defs = schema.schema()["$defs"]
    assert set(defs["step"]["properties"]) == set(ACTIONS) | {"expect"}
    assert set(defs["expect"]["properties"]) == set(EXPECTATIONS)


def test_each_kind_is_one_entry_with_a_handler_and_consistent_flags():
    assert len(STEPS) == len(ACTIONS) + len(EXPECTATIONS) and list(STEPS) == list(KINDS)
    for name, kind in STEPS.items():
        assert kind.name == name and callable(kind.handler)
        assert {f: getattr(kind, f) for f in vars(KINDS[name])} == vars(KINDS[name]), name  # declared once
        assert not (kind.action and (kind.deferred or kind.needs_flows)), name
        assert not (not kind.action and (kind.lasts or kind.failover)), name
    assert set(DEFERRED) == {
        "outage",
        "lost",
        "duplicated",
        "spread",
        "carriedBy",
        "sticky",
        "hashed",
        "garp",
        "unsolicitedNa",
        "lacpdu",
    }
    assert {k for k in ACTIONS if STEPS[k].lasts} == {"flap", "reboot", "netem", "restartPod", "lacpPartner"}
    assert [k for k in ACTIONS if not STEPS[k].window] == ["wait"]
    assert [k for k, kind in STEPS.items() if kind.at_step] == ["hashed"]
    assert all(STEPS[k].deferred for k in STEPS if STEPS[k].at_step)


def test_the_scenario_docs_table_every_kind():
    text = (REPO / "scenarios" / "README.md").read_text()
    documented = set(re.findall(r"`([a-zA-Z]+): ", text))
    assert set(STEPS) <= documented, set(STEPS) - documented


@pytest.mark.parametrize("kind", ["garp: {peer: gw}", "lacpdu: {link: p/net1}", "outage: {max: 100ms}"])
def test_a_deferred_expectation_without_flows_fails_to_load_at_its_line(tmp_path, kind):
    with pytest.raises(SourceError) as got:
        load(tmp_path, f"  steps:\n    - cut: {{vf: p/net1}}\n    - expect: {{{kind}}}\n")
    text = str(got.value)
    assert text.startswith(f"{tmp_path}/s.yaml:7: Scenario t: spec.steps[1].expect"), text
    assert "needs traffic" in text and kind.split(":")[0] in text


def test_the_garp_without_flows_scenario_in_the_library_shape_fails_to_load(tmp_path):
    body = "  steps:\n    - cut: {pf: node1/pf1}\n    - wait: 300ms\n"
    body += "    - expect: {garp: {peer: gw, within: 1s}}\n"
    with pytest.raises(SourceError, match=r"s\.yaml:8: .*garp: this expectation needs traffic"):
        load(tmp_path, body)


def test_polled_expectations_need_no_flows(tmp_path):
    scen = load(
        tmp_path, "  steps:\n    - cut: {vf: p/net1}\n    - expect: {mii: {link: p/net1, status: down}}\n"
    )
    assert scen.steps[1].args == {"mii": {"link": "p/net1", "status": "down"}}


def test_durations_are_parsed_once_into_seconds_and_messages_keep_the_text(tmp_path):
    scen = load(
        tmp_path,
        "  traffic: {flows: [{from: a, to: b}]}\n  steps:\n"
        "    - flap: {vf: p/net1, times: 20, period: 100ms}\n"
        "    - expect: {mii: {link: p/net1, status: up, within: 2s}, outage: {max: 110}}\n"
        "    - netem: {vf: p/net1, delay: 1.5s}\n    - wait: 400ms\n",
    )
    flap, expect, netem, wait = scen.steps
    assert flap.args == {"vf": "p/net1", "times": 20, "period": pytest.approx(0.1)}
    assert expect.args["mii"]["within"] == 2.0 and expect.args["outage"]["max"] == pytest.approx(0.11)
    assert netem.args["delay"] == 1.5 and wait.args == pytest.approx(0.4)
    assert flap.describe() == "flap vf=p/net1 times=20 period=100ms" and wait.describe() == "wait 400ms"


def test_a_step_written_in_python_is_checked_and_located_at_the_callers_line():
    step = steps.step(0, {"cut": {"vf": "p/net1"}}, "t.py:9", "python")
    assert step.kind == "cut" and step.args == {"vf": "p/net1"} and step.where == "t.py:9"
    with pytest.raises(SourceError, match=r"^t\.py:9: python: cut: unknown key 'vff'"):
        steps.step(0, {"cut": {"vff": "p/net1"}}, "t.py:9", "python")


def test_a_count_whose_min_exceeds_its_max_fails_to_load_at_its_line(tmp_path):
    body = "  traffic: {flows: [{from: p, to: gw}]}\n  steps:\n    - cut: {vf: p/net1}\n"
    body += "    - expect: {garp: {peer: gw, min: 5,\n        max: 4}}\n"
    with pytest.raises(SourceError, match=r"s\.yaml:8: .*spec\.steps\[1\]\.expect\.garp.*min 5 > max 4"):
        load(tmp_path, body)
