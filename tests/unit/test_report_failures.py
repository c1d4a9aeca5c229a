"""Which windows the reports' outage figures cover: only those after a failure action, decided once
(model.steps.StepKind.fails, carried by StepResult.failure and WindowRow.failure), in the console summary,
the side-by-side table and the HTML index; and the index names each plugin once, in a legend (no root)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bondlab.model.steps import FAILURES, KINDS
from bondlab.report import render
from bondlab.run.results import WindowRow
from tests import report_results

SETUP = "lacpPartner pod=test-pod"  # an 802.3ad bond's setup: no partner yet, so no traffic for 1.7 s


def with_setup_window(name: str, plugin: str = "bin/bond"):
    """A cut-and-restore run (101 ms outage after the cut) with a setup action's window of 1666 ms first."""
    r = report_results.run_result(name)
    r.plugin = plugin
    first = r.windows[1]
    figures = dataclasses.replace(first.figures, outage_ms=1666)
    setup = WindowRow(SETUP, first.flow, first.src, first.dst, figures)
    r.windows.insert(1, setup)
    return r


@pytest.mark.parametrize(
    "kind, args, failure",
    [
        ("cut", {"vf": "p/net1"}, True),
        ("flap", {"vf": "p/net1"}, True),
        ("reboot", {"node": "n"}, True),
        ("admin", {"link": "p/net1", "state": "down"}, True),
        ("admin", {"link": "p/net1", "state": "up"}, False),
        ("linkState", {"vf": "p/net1", "state": "disable"}, True),  # the VF loses carrier: a cut to the bond
        ("linkState", {"vf": "p/net1", "state": "auto"}, False),
        ("linkState", {"vf": "p/net1", "state": "enable"}, False),
        ("restore", {"vf": "p/net1"}, False),
        ("lacpPartner", {"pod": "p"}, False),
        ("restartPod", {"pod": "p"}, False),
        ("netem", {"vf": "p/net1", "loss": 10}, False),
    ],
)
def test_a_failure_is_an_action_that_takes_a_link_down(kind, args, failure):
    assert KINDS[kind].fails(args) is failure
    assert (kind in FAILURES) is (kind in ("cut", "flap", "reboot", "admin", "linkState"))


def test_the_runner_marks_the_windows_after_a_failure_and_results_json_says_so():
    r = report_results.run_result("a")
    assert {(w.action.split()[0], w.failure) for w in r.windows} == {
        ("start", False),
        ("cut", True),
        ("restore", False),
    }
    rows = json.loads(json.dumps(r.as_dict()))
    assert [w["failure"] for w in rows["windows"]] == [w.failure for w in r.windows]
    assert [s["failure"] for s in rows["steps"]] == [True, False]


def test_a_setup_action_s_outage_is_not_the_worst_outage_anywhere(tmp_path):
    r = with_setup_window("lacp")
    assert max(w.figures.outage_ms for w in r.windows) == 1666  # it is there, in the console's rows
    assert r.worst_outage_ms == pytest.approx(101, abs=2)
    summary = render.outage_summary([r])
    assert "1666" not in summary and "after a failure" in summary
    other = with_setup_window("lacp", "other/bond")
    side = render.compare({"bin/bond": [r.as_dict()], "other/bond": [other.as_dict()]})
    assert "1666" not in side and "WORST OUTAGE ms" in side and "after a failure action (cut, " in side
    index = open(render.write_all([r], str(tmp_path))["html"]).read()
    assert "1666" not in index and f"<th>{render.WORST_OUTAGE}<th>" in index


def test_a_scenario_without_a_failure_has_no_worst_outage():
    r = report_results.run_result("a")
    r.windows = [w for w in r.windows if not w.failure]
    assert r.worst_outage_ms is None
    assert render.outage_summary([r]).startswith("no traffic window after a failure")


def test_the_index_names_each_plugin_once_in_a_legend(tmp_path):
    long = "/very/long/path/to/a/checkout/bin/bond"
    results = [with_setup_window(name, long) for name in ("a", "b")] + [with_setup_window("c", "bin/other")]
    index = open(render.write_all(results, str(tmp_path))["html"]).read()
    assert index.count(f"[1] {long}") == 1 and index.count("[2] bin/other") == 1
    assert index.count(f">{long}<") == 0 and index.count(">[1]</td>") == 2 and index.count(">[2]</td>") == 1


def test_a_connection_checks_rows_with_bandwidth_render_and_serialise():
    """The concheck step's rows are ConnectivityRows too (they were dicts, and `bondlab run` of a concheck
    scenario died rendering them)."""
    from bondlab.run.results import ConnectivityRow

    r = report_results.run_result("concheck")
    r.connectivity = [
        ConnectivityRow("pod-a", "pod-b", "10.56.217.3", 3, 3, 47.8e6),
        ConnectivityRow("pod-a", "gw", "10.56.217.1", 3, 3),
    ]
    text = render.console([r])
    assert "Mbit/s" in text and "47.8" in text
    assert [c.get("bandwidth") for c in r.as_dict()["connectivity"]] == [47.8e6, None]
