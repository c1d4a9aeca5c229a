"""The one -k grammar (util.keywords): `bondlab run -k EXPR` and `--list` over scenario paths and names,
`bondlab conformance -k` over case ids (no root, no kernel)."""

from __future__ import annotations

import re

import pytest

from bondlab.cli.main import main
from bondlab.util.keywords import ExpressionError, check, matches
from bondlab.util.paths import REPO


@pytest.mark.parametrize(
    "expr, chosen",
    [
        ("backup", True),
        ("BACKUP", True),  # case-insensitive
        ("modes", True),  # a folder counts
        ("ab-cut", True),  # the scenario's name counts
        ("balance", False),
        ("not balance", True),
        ("modes and not backup", False),
        ("balance or backup", True),
        ("(balance or pf) and modes", False),
        ("not (balance or pf) and modes", True),
        ("not not backup", True),
    ],
)
def test_keyword_expressions(expr, chosen):
    assert matches(expr, "scenarios/modes/active-backup.yaml", "ab-cut") is chosen


@pytest.mark.parametrize("expr", ["", "a and", "(a or b", "a b", "and a", "a )"])
def test_a_bad_expression_is_one_clear_error(expr):
    with pytest.raises(ExpressionError) as error:
        matches(expr, "x")
    assert str(error.value).startswith(f"-k {expr!r}: ")


@pytest.mark.parametrize(
    "expr, message",
    [
        ("x and", "-k 'x and': ends too early"),
        ("(x", "-k '(x': ends too early"),
        ("(x y", "-k '(x y': a '(' is not closed"),
        ("x )", "-k 'x )': unexpected ')'"),
        ("or x", "-k 'or x': unexpected 'or'"),
        ("  ", "-k '  ': empty expression"),
    ],
)
def test_the_errors_say_what_is_wrong(expr, message):
    with pytest.raises(ExpressionError, match=re.escape(message)):
        check(expr)


def test_conformance_selects_with_the_same_grammar(capsys):
    """`bondlab conformance -k` parses (never evaluates) the expression: one grammar, one error text."""
    from bondlab.conformance import catalog, registry

    cases = catalog.load().values()
    assert [c.id for c in registry.select(cases, "del-twice")] == ["del-twice"]
    with pytest.raises(ExpressionError, match="ends too early"):
        registry.select(cases, "del and (")
    with pytest.raises(ExpressionError, match="unexpected"):
        registry.select(cases, "__import__('os') or x")
    assert main(["conformance", "--list", "-k", "del and"]) == 2
    assert "bondlab conformance: -k 'del and': ends too early" in capsys.readouterr().err


def test_list_prints_the_selection_and_runs_nothing(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    selection = "modes and not balance and not broad and not partner"
    assert main(["run", "scenarios", "--list", "-k", selection]) == 0
    out, err = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines()] == [
        "scenarios/modes/802.3ad.yaml",
        "scenarios/modes/active-backup.yaml",
    ]
    assert "2 scenario(s)" in err


def test_an_empty_selection_or_a_bad_expression_is_exit_2(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["run", "scenarios", "-k", "no-such-scenario-anywhere"]) == 2
    assert "no scenario selected" in capsys.readouterr().err
    assert main(["run", "scenarios", "-k", "modes and ("]) == 2
    assert "ends too early" in capsys.readouterr().err
