"""The action verbs' arguments are derived from the step registry and the schema, not declared again: every
action whose argument is an object is a verb, every property an argument, and the words given become the
step the scenario loader checks and types (no root, no kernel)."""

from __future__ import annotations

import pytest

from bondlab.cli import actions
from bondlab.cli.main import build_parser
from bondlab.model import schema, steps
from bondlab.model.steps import ACTIONS


def parse(*words: str):
    args = build_parser().parse_args(list(words))
    kind, opts = actions.verbs()[words[0]]
    return actions.step_mapping(kind, opts, args)


def test_every_action_with_an_object_argument_is_a_verb_with_every_property():
    props = schema.schema()["$defs"]["step"]["properties"]
    found = actions.verbs()
    assert {kind for kind, _ in found.values()} == set(ACTIONS) - {"wait"}
    for verb, (kind, opts) in found.items():
        assert verb == actions.verb_name(kind)
        node = props[kind]
        if "$ref" in node:
            node = schema.schema()["$defs"][node["$ref"].rsplit("/", 1)[1]]
        assert [o.prop for o in opts] == list(node["properties"])
    assert "link-state" in found and "set-active" in found and "wait" not in found


@pytest.mark.parametrize(
    "words, step",
    [
        (("cut", "--vf", "test-pod/net1"), {"cut": {"vf": "test-pod/net1"}}),
        (("restore", "--pf", "node1/ens1f0"), {"restore": {"pf": "node1/ens1f0"}}),
        (("cut", "--uplink", "node1/ens1f0"), {"cut": {"uplink": "node1/ens1f0"}}),
        (("cut", "--port", "n0p0"), {"cut": {"port": "n0p0"}}),
        (
            ("flap", "--vf", "p/net1", "--times", "5", "--period", "200ms"),
            {"flap": {"vf": "p/net1", "times": 5, "period": "200ms"}},
        ),
        (
            ("netem", "--vf", "p/net1", "--loss", "10", "--delay", "5"),
            {"netem": {"vf": "p/net1", "loss": 10.0, "delay": 5}},
        ),
        (("netem", "--vf", "p/net1", "--clear"), {"netem": {"vf": "p/net1", "clear": True}}),
        (("link-state", "--vf", "p/net1", "disable"), {"linkState": {"vf": "p/net1", "state": "disable"}}),
        (("set-active", "p/net2"), {"setActive": {"link": "p/net2"}}),
        (("admin", "p/net2", "down"), {"admin": {"link": "p/net2", "state": "down"}}),
        (("restart-pod", "p"), {"restartPod": {"pod": "p"}}),
        (  # one link or more: the schema's "one or many"
            ("lacp-partner", "p", "--behaviour", "silent", "--links", "p/net1"),
            {"lacpPartner": {"pod": "p", "behaviour": "silent", "links": ["p/net1"]}},
        ),
        (
            ("lacp-partner", "--links", "p/net1", "--links", "p/net2", "p"),
            {"lacpPartner": {"pod": "p", "links": ["p/net1", "p/net2"]}},
        ),
    ],
)
def test_the_words_are_the_scenario_step(words, step):
    assert parse(*words) == step
    typed = steps.step(0, step, "the command line", "bondlab")  # the loader accepts it
    assert typed.kind == next(iter(step))


def test_durations_are_typed_by_the_loader_as_in_a_scenario():
    step = steps.step(0, parse("flap", "--vf", "p/net1", "--period", "200ms"), "cli", "bondlab")
    assert step.args["period"] == pytest.approx(0.2)
    assert step.describe() == "flap vf=p/net1 period=200ms"


@pytest.mark.parametrize(
    "words",
    [
        ("cut",),  # one target is required
        ("cut", "--vf", "p/net1", "--pf", "n/pf"),  # and only one
        ("link-state", "--vf", "p/net1", "sideways"),
        ("flap", "--times", "3"),  # --vf is required
        ("set-active",),
    ],
)
def test_wrong_words_are_usage_errors(words, capsys):
    with pytest.raises(SystemExit) as exit:
        build_parser().parse_args(list(words))
    assert exit.value.code == 2


def test_a_value_the_schema_refuses_is_a_clear_error():
    from bondlab.model.yamlsrc import SourceError

    with pytest.raises(SourceError) as error:
        steps.step(0, parse("flap", "--vf", "p/net1", "--times", "0"), "the command line", "bondlab flap")
    assert "at least 1" in str(error.value)
