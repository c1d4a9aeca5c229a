"""The timeline pictures (bondlab.report.pictures): colours, clipping, action labels, the close-up's scale and
the kernel's events as marks (no root)."""

from __future__ import annotations

import re

from bondlab.report import pictures, render
from tests import report_results


def timeline(probes: dict, actions: list, end_ms: float = 1000.0, events=()) -> dict:
    return {"flows": list(probes), "probes": probes, "actions": actions, "end_ms": end_ms, "events": events}


def test_slaves_get_palette_colours_in_name_order_and_unknown_is_grey_only_when_seen():
    drawing = pictures.overview(timeline({"a -> b": [(1, "p/net2"), (2, "p/net1"), (3, "?")]}, []), "t")
    assert f'fill="{pictures.PALETTE[0]}"/>\n<text x="' in drawing  # legend: net1 first, blue
    assert drawing.index(">p/net1</text>") < drawing.index(">p/net2</text>")
    assert 'fill="#999999"' in drawing
    assert "#999999" not in pictures.overview(timeline({"a -> b": [(1, "p/net1")]}, []), "t")


def test_probes_outside_the_run_are_not_drawn():
    drawing = pictures.overview(timeline({"a -> b": [(-5, None), (1500, None), (10, "p/net1")]}, []), "t")
    assert drawing.count(f'stroke="{pictures.LOST}"/>') == 0 and drawing.count('height="20" fill=') == 1


def test_close_actions_put_their_labels_on_two_rows():
    actions = [(100, "cut vf=p/net1"), (110, "restore vf=p/net1")]
    drawing = pictures.overview(timeline({"a -> b": []}, actions), "t")
    rows = [line for line in drawing.splitlines() if "vf=p/net1</text>" in line]
    assert [' y="34"' in rows[0], ' y="45"' in rows[1]] == [True, True]


def test_a_close_up_spans_300_ms_around_its_action_and_a_100_ms_outage_is_at_least_250_px_wide():
    axis = pictures.close_axis(5000.0)
    assert (axis.start_ms, axis.end_ms) == (4950.0, 5250.0)
    assert axis.x(5100.0) - axis.x(5000.0) >= 250
    overview = pictures.overview_axis(10_000.0)
    assert overview.x(100.0) - overview.x(0.0) < 10  # what the close-up is for


def lost_ticks(drawing: str) -> list:
    return [float(x) for x in re.findall(rf'<line x1="([\d.]+)"[^>]*stroke="{pictures.LOST}"/>', drawing)]


def test_the_close_up_draws_every_lost_probe_of_the_outage_at_its_own_pixel():
    result = report_results.run_result("t", cut_ms=1000, outage_ms=100)
    drawing = pictures.close_up(result.timeline, 0, "t")
    ticks = lost_ticks(drawing)
    assert len(ticks) == 2 * 100  # two flows, a probe a millisecond
    assert max(ticks) - min(ticks) >= 250
    whole = lost_ticks(pictures.overview(result.timeline, "t"))  # a 3 s run: ~30 px there
    assert max(whole) - min(whole) < (max(ticks) - min(ticks)) / 5


def test_kernel_events_are_marks_in_both_pictures_and_labelled_in_the_close_up_only():
    result = report_results.run_result("t", cut_ms=1000, outage_ms=100)
    events = result.timeline["events"]
    assert [e[2:] for e in events] == [
        ["net1", "MII down"],
        ["net2", "active"],
        ["net2", "GARP"],
        ["net1", "MII up"],
    ]
    close = pictures.close_up(result.timeline, 0, "t")
    whole = pictures.overview(result.timeline, "t")
    for drawing, marks in ((close, 3), (whole, 4)):  # the restore's MII up is off the cut's close-up
        assert drawing.count("<title>") == marks
    assert "net1 MII down +98.5 ms</text>" in close and "net2 active +100.0 ms</text>" in close
    assert "net2 GARP +100.4 ms</text>" in close and "MII down +" not in whole
    # marks closer than their labels are wide go on different rows, each next to its own label
    ys = [float(y) for y in re.findall(r'translate\([\d.]+,([\d.]+)\)" fill="[^"]+" stroke="#000"', close)]
    assert len(set(ys)) == 3


def test_a_slave_keeps_its_colour_in_marks_and_probes():
    result = report_results.run_result("t")
    colour = pictures.colours(result.timeline)
    close = pictures.close_up(result.timeline, 0, "t")
    assert f'fill="{colour["test-pod/net2"]}" stroke="#000"' in close  # net2's failover and GARP marks
    assert colour["test-pod/net1"] == pictures.PALETTE[0] and colour["test-pod/net2"] == pictures.PALETTE[1]


def test_close_events_get_a_label_row_each_and_labels_near_the_right_edge_go_left():
    events = [[1000 + d, "p", "net2", what] for d, what in ((0, "GARP"), (0.1, "GARP"), (0.2, "active"))]
    events += [
        [1000.9, "p", "net1", "MII down"],
        [1200, "p", "net1", "MII up"],
        [1245, "p", "net2", "GARP"],
    ]
    tl = timeline({"a -> b": []}, [[990, "cut vf=p/net1", 1000]], events=events)
    placed = pictures._placed(events, pictures.close_axis(1000), True)
    assert [row for *_, row, _label in placed] == [0, 1, 2, 3, 0, 1]
    drawing = pictures.close_up(tl, 0, "t")
    assert 'text-anchor="end" y="' in drawing and ">net2 GARP +245.0 ms</text>" in drawing
    height = int(re.search(r'height="(\d+)"', drawing).group(1))
    assert height >= 52 + pictures.BAND + 4 * pictures.EVENT_ROW  # the band grew to four rows


def test_each_run_of_a_repeated_scenario_gets_its_own_timeline_page(tmp_path):
    render.write_all([report_results.run_result("a") for _ in range(3)], str(tmp_path))
    pages = sorted(p.name for p in tmp_path.glob("*.html"))
    assert len(pages) == 4 and pages[-1] == "index.html"
    index = (tmp_path / "index.html").read_text()
    assert all(f"href={page!r}".replace("'", '"') in index for page in pages[:-1])


def test_a_run_with_a_capture_links_its_pcapng_from_the_index_and_its_timeline_page(tmp_path):
    with_capture, without = report_results.run_result("a"), report_results.run_result("b")
    with_capture.capture = "a.pcapng"
    render.write_all([with_capture, without], str(tmp_path))
    index = (tmp_path / "index.html").read_text()
    assert index.count(">pcapng</a>") == 1 and 'href="a.pcapng"' in index
    pages = {p.name: p.read_text() for p in tmp_path.glob("*.html") if p.name != "index.html"}
    linked = [name for name, text in pages.items() if 'href="a.pcapng"' in text]
    assert len(linked) == 1 and linked[0].startswith("a-"), linked


def test_a_pod_to_pod_flow_draws_a_band_per_end():
    """The runner gives a pod-to-pod flow two bands: the slave each probe left by, the one it arrived on."""
    probes = {"a -> b": [(1, "a/net1"), (2, "a/net1")], "a -> b: arrived on": [(1, "b/net1"), (2, "b/net2")]}
    drawing = pictures.overview(timeline(probes, []), "t")
    assert ">a -&gt; b<" in drawing and ">a -&gt; b: arrived on<" in drawing
    assert all(f'fill="{c}"' in drawing for c in pictures.colours(timeline(probes, [])).values())
