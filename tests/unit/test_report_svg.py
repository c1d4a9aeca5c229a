"""The failover timeline picture (bondlab.report.render.svg): colours, clipping, action labels (no root)."""

from __future__ import annotations

from types import SimpleNamespace

from bondlab.report import render as report


def result(probes: dict, actions: list, end_ms: float = 1000.0):
    timeline = {"flows": list(probes), "probes": probes, "actions": actions, "end_ms": end_ms}
    return SimpleNamespace(name="t", status="passed", timeline=timeline)


def test_slaves_get_palette_colours_in_name_order_and_unknown_is_grey_only_when_seen():
    drawing = report.svg(result({"a -> b": [(1, "p/net2"), (2, "p/net1"), (3, "?")]}, []))
    assert f'fill="{report.PALETTE[0]}"/>\n<text x="' in drawing  # legend: net1 first, blue
    assert drawing.index(">p/net1</text>") < drawing.index(">p/net2</text>")
    assert 'fill="#999999"' in drawing
    assert "#999999" not in report.svg(result({"a -> b": [(1, "p/net1")]}, []))


def test_probes_outside_the_run_are_not_drawn():
    drawing = report.svg(result({"a -> b": [(-5, None), (1500, None), (10, "p/net1")]}, []))
    assert drawing.count('stroke="#d62728"/>') == 0 and drawing.count('height="20" fill=') == 1


def test_close_actions_put_their_labels_on_two_rows():
    drawing = report.svg(result({"a -> b": []}, [(100, "cut vf=p/net1"), (110, "restore vf=p/net1")]))
    rows = [line for line in drawing.splitlines() if "vf=p/net1</text>" in line]
    assert [' y="34"' in rows[0], ' y="45"' in rows[1]] == [True, True]
