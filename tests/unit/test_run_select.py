"""`bondlab run -k EXPR` and `--list`: pytest's keyword expressions over scenario paths and names (no root,
no kernel)."""

from __future__ import annotations

import pytest

from bondlab.cli.main import main
from bondlab.run.select import ExpressionError, matches
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
