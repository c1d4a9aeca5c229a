"""`bondlab --help` is for a newcomer: what bondlab is, the first commands, where the docs are, and every
verb in a group with its own help; not the CLI's module layout (no root, no kernel)."""

from __future__ import annotations

import re

import pytest

from bondlab.cli.main import build_parser
from bondlab.util.paths import REPO


@pytest.fixture(scope="module")
def text() -> str:
    return build_parser().format_help()


def test_it_says_what_bondlab_is_not_how_the_cli_is_written(text):
    assert text.split("\n\n")[1].startswith("bondlab is the failover lab of the bond CNI plugin")
    assert "one module per verb group" not in text


def test_the_first_commands_it_names_exist_and_so_do_the_docs(text):
    start = text[text.index("start here:") :]
    for command in ("doctor", "run", "deploy", "conformance", "lint"):
        assert f"  bondlab {command}" in start, command
    for path in re.findall(r"bondlab (?:run|deploy) (\S+\.yaml)", start):
        assert (REPO / path).is_file(), path
    for doc in ("README.md", "scenarios/README.md"):
        assert doc in start and (REPO / doc).is_file()


def test_every_verb_is_listed_once_in_a_group_with_its_help(text):
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "verb"]
    listed = re.findall(r"^  ([a-z-]+) {2,}\S", text[text.index("verbs:") :], re.M)
    assert sorted(listed) == sorted(sub.choices)
    for action in sub._choices_actions:
        assert action.help.split()[0] in text


def test_a_verb_s_usage_starts_with_bondlab_and_the_verb(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    assert capsys.readouterr().out.startswith("usage: bondlab run [")
