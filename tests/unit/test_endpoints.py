"""The one endpoint grammar (bondlab.model.endpoints): POD, NAMESPACE/POD, POD/IFACE, NAMESPACE/POD/IFACE,
NODE/PF and peers parsed once, resolved against a lab's pods; flows expanded into their directions with
their Shape (bondlab.model.flows.expand); the names a step uses, located (no root, no kernel)."""

from __future__ import annotations

import pytest

from bondlab.model import endpoints, flows, steps
from bondlab.model.yamlsrc import SourceError

PODS = {"test-pod": "P", "default/test-pod": "P", "other/web": "W", "web": "W"}


@pytest.mark.parametrize(
    "text, role, readings",
    [
        ("test-pod", "pod", (("test-pod", ""),)),
        ("default/test-pod", "pod", (("default/test-pod", ""), ("default", "test-pod"))),
        ("test-pod/bond0", "end", (("test-pod/bond0", ""), ("test-pod", "bond0"))),
        ("test-pod/net1", "link", (("test-pod", "net1"),)),
        ("default/test-pod/net1", "link", (("default/test-pod", "net1"),)),
        ("gw", "peer", ()),
        ("node1/pf1", "pf", ()),
        ("a/b/c", "end", ()),  # a flow's end names a pod or one of its interfaces, never deeper
        ("net1", "link", ()),  # a link needs its pod
    ],
)
def test_one_parser_reads_every_form(text, role, readings):
    end = endpoints.parse(text, role, "s.yaml:3", "spec.x")
    assert (end.text, end.role, end.readings, end.where, end.path) == (
        text,
        role,
        readings,
        "s.yaml:3",
        "spec.x",
    )
    assert str(end) == text and endpoints.parse(end) is end


@pytest.mark.parametrize(
    "text, role, found",
    [
        ("test-pod", "pod", ("P", "")),
        ("default/test-pod", "end", ("P", "")),  # NAMESPACE/POD: the pod's bond
        ("test-pod/bond0", "end", ("P", "bond0")),  # POD/IFACE
        ("test-pod/bond0", "pod", ("P", "bond0")),  # the pod part of POD/BOND
        ("other/web/net2", "link", ("W", "net2")),
        ("web/net2", "link", ("W", "net2")),
        ("nobody", "pod", None),
        ("nobody/net1", "link", None),
    ],
)
def test_a_name_resolves_to_the_first_reading_the_lab_has(text, role, found):
    assert endpoints.locate(endpoints.parse(text, role), PODS) == found


def test_a_flow_mapping_expands_into_its_directions_with_one_shape():
    raw = {"from": "test-pod", "to": "gw", "sessions": 4, "macs": 2, "rate": 200}
    forward, back = flows.expand(raw, 1000, "spec.traffic.flows[0]", "S")
    assert (forward.name, back.name) == ("test-pod -> gw", "gw -> test-pod")
    assert forward.shape is back.shape and forward.shape.sessions == 4 and forward.shape.own_frames
    assert forward.rate == back.rate == 200 and forward.path == "spec.traffic.flows[0]"
    (one,) = flows.expand({"from": "a", "to": "b", "bidirectional": False}, 500, "flows[1]", "S", "t.py:4")
    assert (one.name, one.rate, one.shape.family, one.where) == ("a -> b", 500, "ipv4", "t.py:4")
    assert (one.src.role, one.src.where, one.dst.path) == ("end", "t.py:4", "flows[1].to")


def test_a_flow_whose_shape_is_wrong_is_an_error_at_its_key():
    with pytest.raises(SourceError) as got:
        flows.expand({"from": "a", "to": "b", "macs": 3}, 1000, "flows[0]", "S", "t.py:9")
    assert str(got.value).startswith("t.py:9: S: flows[0].macs: macs 3 > sessions 1")


def test_a_step_carries_the_names_and_flows_it_uses_each_located():
    step = steps.step(
        0,
        {
            "expect": {
                "connectivity": {"from": ["p", "gw"], "to": ["q"]},
                "outage": {"max": "1s", "flow": "p -> gw"},
            }
        },
        "t.py:7",
        "S",
    )
    assert [(n.text, n.role, n.path) for n in step.names] == [
        ("p", "end", "spec.steps[0].expect.connectivity.from[0]"),
        ("gw", "end", "spec.steps[0].expect.connectivity.from[1]"),
        ("q", "end", "spec.steps[0].expect.connectivity.to[0]"),
    ]
    assert [(f.name, f.where, f.path) for f in step.flows] == [
        ("p -> gw", "t.py:7", "spec.steps[0].expect.outage.flow")
    ]
    cut = steps.step(1, {"cut": {"pf": "node1/pf1"}}, "t.py:8", "S")
    assert [(n.text, n.role) for n in cut.names] == [("node1/pf1", "pf")]
