"""The conformance suite's case registry, -k selection, outcomes in the reports and the CLI's --list."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from bondlab.cli.main import main
from bondlab.conformance import catalog, registry, report
from bondlab.conformance.context import KINDS, Subject
from bondlab.conformance.suite import CaseResult, applies

CASES = catalog.load()


def test_every_case_declares_level_and_source():
    assert len(CASES) >= 60
    for case in CASES.values():
        assert case.level in registry.LEVELS
        if case.level == "spec":
            assert "SPEC.md Section" in case.source, case.id
        if case.level == "bond-cni":
            assert "upstream bond-cni README.md" in case.source, case.id
    assert {c.level for c in CASES.values()} == set(registry.LEVELS)


def test_a_case_id_is_declared_once():
    with pytest.raises(AssertionError, match="declared twice"):
        registry.case("del-twice", "spec", "again")(lambda ctx: None)


def test_bound_arguments_reach_the_function():
    seen = []
    registry.case("test-only-bound", "extension", "a unit test", value=3)(
        lambda ctx, value: seen.append(value)
    )
    try:
        CASES["test-only-bound"].run(None)
    finally:
        del CASES["test-only-bound"]
    assert seen == [3]


@pytest.mark.parametrize(
    "expression,some,none",
    [
        ("del-twice", ["del-twice"], ["del-without-add"]),
        ("del and not twice", ["del-without-add", "del-netns-gone"], ["del-twice", "check-after-add"]),
        (
            "(version or env) and not command",
            ["version-answer", "env-add-without-cni-netns"],
            ["env-without-command", "version-needs-only-command"],
        ),
        ("not ext", ["field-mode"], ["ext-primary"]),
        ("ADD-RESULT", ["add-result-1.1.0"], ["add-ipam-delegation"]),
    ],
)
def test_select(expression, some, none):
    ids = [c.id for c in registry.select(CASES.values(), expression)]
    assert set(some) <= set(ids) and not set(none) & set(ids), ids


def test_select_all_and_bad_expressions():
    assert len(registry.select(CASES.values(), "")) == len(CASES)
    with pytest.raises(ValueError):
        registry.select(CASES.values(), "del and (")


def test_reference_plugins_get_only_generic_cases():
    macvlan = Subject.of("/usr/lib/cni/macvlan")
    assert macvlan.kind == "macvlan" and macvlan.ifname == "net0"
    assert Subject.of("/opt/cni/bin/bond").kind == "bond" and set(KINDS) >= {"bond", "host-device"}
    generic = [c.id for c in CASES.values() if applies(c, macvlan)]
    assert (
        "del-twice" in generic and "field-mode" not in generic and "config-invalid-is-code-7" not in generic
    )
    assert all(applies(c, Subject.of("bin/bond")) for c in CASES.values())


def results() -> list:
    def r(plugin, case, level, status, message=""):
        return CaseResult(plugin, "bond", case, level, "src", status, message, 0.5)

    return [
        r("a", "del-twice", "spec", "passed"),
        r("a", "field-mode", "bond-cni", "passed"),
        r("a", "ext-primary", "extension", "skipped", "ignored: primary"),
        r("b", "del-twice", "spec", "failed", "DEL failed"),
        r("b", "field-mode", "bond-cni", "error", "CommandError: boom"),
    ]


def test_counts_console_and_side_by_side():
    rs = results()
    assert report.counts(rs) == {
        "a": {"spec": {"passed": 1}, "bond-cni": {"passed": 1}, "extension": {"skipped": 1}},
        "b": {"spec": {"failed": 1}, "bond-cni": {"error": 1}},
    }
    text = report.console(rs)
    assert "-- extension: 1 not-supported" in text and "ignored: primary" in text
    side = report.compare(rs).splitlines()
    assert side[:2] == ["[1] a", "[2] b"]
    assert side[3].split() == ["spec", "del-twice", "PASS", "FAIL"]
    assert side[5].split() == ["extension", "ext-primary", "NOT-SUPPORTED", "-"]
    assert [r.judged for r in rs] == [True, True, False, True, True]


def test_json_and_junit(tmp_path):
    paths = report.write_all(results(), str(tmp_path / "out"))
    data = json.loads(open(paths["json"]).read())
    assert data["counts"]["b"]["spec"] == {"failed": 1} and len(data["results"]) == 5
    suite = ET.parse(paths["junit"]).getroot().find("testsuite")
    assert suite.get("name") == "bondlab-conformance"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "5",
        "1",
        "1",
        "1",
    )
    skipped = [c for c in suite.iter("testcase") if c.find("skipped") is not None]
    assert [c.get("name") for c in skipped] == ["a::ext-primary"]


def test_cli_lists_cases_without_a_kernel(capsys):
    assert main(["conformance", "--list", "-k", "del-twice or field-mode"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["del-twice", "spec"], ["field-mode", "bond-cni"]]


def test_cli_refuses_what_it_cannot_run(capsys, tmp_path):
    assert main(["conformance", "--plugin", str(tmp_path / "nope")]) == 2
    assert main(["conformance", "-k", "del and ("]) == 2
