"""A scenario's timeline pictures (SVG written by hand): the whole run, and a close-up of the 300 ms around
each action, where a 100 ms outage is ~300 px wide instead of ~10.

Both draw the same things on their own time axis: per flow a band with a mark per probe coloured by the
slave that carried it (red ticks: lost; a pod-to-pod flow has a band per pod: the slave each probe left its
sender by, and the one it arrived on), lines at the actions (dashed where the step started, solid where
it sent its first link change), and the kernel's events of each bonded pod
(run.timeline.Timeline.kernel_events: a slave's MII status changing, the active slave changing, a
gratuitous ARP or unsolicited NA sent) as marks on a band of their own, shaped by kind and coloured by
slave; the close-up labels each mark, the overview has them in its legend.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
LOST, UNKNOWN = "#d62728", "#999999"
WIDTH, LEFT, BAND, EVENT_ROW = 1100, 170, 60, 26
CHAR_PX = 6.5  # the width of a character of an 11 px sans-serif label, about
BEFORE_MS, AFTER_MS = 50.0, 250.0  # a close-up spans the action -50 ms .. +250 ms
TICK_MS = 50.0
# the kernel's events by kind: a shape (an SVG path around 0,0)
SHAPES = {
    "MII down": "M-5,-4 L5,-4 L0,5 Z",  # triangle down
    "MII going down": "M-5,-4 L5,-4 L0,5 Z",
    "MII up": "M-5,4 L5,4 L0,-5 Z",  # triangle up
    "MII going back": "M-5,4 L5,4 L0,-5 Z",
    "active": "M0,-6 L6,0 L0,6 L-6,0 Z",  # diamond
    "GARP": "M-4,0 A4,4 0 1,0 4,0 A4,4 0 1,0 -4,0",  # circle
    "NA": "M-4,-4 L4,-4 L4,4 L-4,4 Z",  # square
}
LEGEND_KINDS = ("MII down", "MII up", "active", "GARP", "NA")
CLOCKS = (
    "+0 ms: the action's first link change (solid line; dashed: the step started). Probes at their send time "
    "(a blank: none sent, the sender paused), GARP and NA at the switch port's kernel timestamp, MII and "
    "active when read from rtnetlink (a bound)."
)


@dataclass(frozen=True)
class Axis:
    """Milliseconds after the probes started -> x pixels, over [start_ms, end_ms]."""

    start_ms: float
    end_ms: float
    left: float = LEFT
    right: float = WIDTH - 40

    def x(self, ms: float) -> float:
        return self.left + (self.right - self.left) * (ms - self.start_ms) / (self.end_ms - self.start_ms)

    def covers(self, ms: float) -> bool:
        return self.start_ms <= ms <= self.end_ms

    @property
    def px_per_ms(self) -> float:
        return (self.right - self.left) / (self.end_ms - self.start_ms)


def overview_axis(end_ms: float) -> Axis:
    return Axis(0.0, max(end_ms, 1.0))


def close_axis(action_ms: float) -> Axis:
    return Axis(action_ms - BEFORE_MS, action_ms + AFTER_MS)


def colours(timeline: dict) -> dict:
    """Slave label (POD/IFACE) -> colour: palette order by name, so net1 is blue and net2 orange in every
    picture of a run; "?" (no switch port saw the probe) grey, only when it occurs."""
    seen = {p[1] for ps in timeline["probes"].values() for p in ps if p[1]}
    seen |= {f"{pod}/{slave}" for _ms, pod, slave, _what in timeline.get("events", ()) if slave != "?"}
    out = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(sorted(seen - {"?"}))}
    if "?" in seen:
        out["?"] = UNKNOWN
    return out


def overview(timeline: dict, title: str) -> str:
    """The whole run; "" when the scenario recorded no traffic."""
    if not timeline:
        return ""
    return _picture(timeline, overview_axis(timeline["end_ms"]), title, False)


def origin_ms(action: list) -> float:
    """Where an action's close-up puts +0 ms: when its first link change was sent (what the failover
    figures count from; on a loaded lab VM it can be 100-200 ms after the step started), else its start."""
    return action[2] if len(action) > 2 and action[2] is not None else action[0]


def close_up(timeline: dict, index: int, title: str) -> str:
    """The 300 ms around action `index` (BEFORE_MS before its origin_ms, AFTER_MS after)."""
    origin = origin_ms(timeline["actions"][index])
    return _picture(timeline, close_axis(origin), title, True, origin=origin)


def _picture(tl: dict, axis: Axis, title: str, labelled: bool, origin: float = 0.0) -> str:
    colour = colours(tl)
    flows, pods = tl["flows"], _pods_with_events(tl)
    placed = {pod: _placed([e for e in tl.get("events", ()) if e[1] == pod], axis, labelled) for pod in pods}
    rows = {pod: 1 + max((p[4] for p in got), default=0) for pod, got in placed.items()}
    kernel_top = 52 + BAND * len(flows)
    bottom = kernel_top + EVENT_ROW * sum(rows.values()) + 10
    height = bottom + (66 if labelled else 50)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>',
        f'<text x="10" y="18" font-size="14">{html.escape(title)}</text>',
    ]
    if labelled:
        out += _grid(axis, origin, 30, bottom)
    for i, flow in enumerate(flows):
        out += _flow_band(tl["probes"][flow], flow, axis, 52 + i * BAND, colour, labelled)
    top = kernel_top
    for pod in pods:
        out += _event_band(placed[pod], pod, axis, top, colour)
        top += EVENT_ROW * rows[pod]
    out += _actions(tl["actions"], axis, bottom, labelled)
    out += _axis_labels(axis, origin, labelled, bottom + 20)
    out += _legend(colour, bottom + 40)
    if labelled:
        out.append(f'<text x="10" y="{bottom + 58}" font-size="10" fill="#555">{html.escape(CLOCKS)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _pods_with_events(tl: dict) -> list:
    return sorted({pod for _ms, pod, _slave, _what in tl.get("events", ())})


def _flow_band(probes: list, flow: str, axis: Axis, y0: float, colour: dict, labelled: bool) -> list:
    """A flow's probes: a bar per delivered probe in its slave's colour, a red tick per lost one; one mark per
    pixel and kind (at 1000/s a 10 s overview has ~10 probes per pixel)."""
    out = [
        f'<text x="10" y="{y0 + BAND / 2}">{html.escape(flow)}</text>',
        f'<line x1="{axis.left}" y1="{y0 + BAND - 5}" x2="{axis.right}" y2="{y0 + BAND - 5}" stroke="#ddd"/>',
    ]
    bar = 2 if labelled and axis.px_per_ms >= 2 else 1
    last_x: dict = {}
    for ms, label in probes:
        if not axis.covers(ms):  # before the traffic officially started, after it stopped, off a close-up
            continue
        px = round(axis.x(ms))
        key = label or "lost"
        if last_x.get(key) == px:
            continue
        last_x[key] = px
        if label is None:
            out.append(f'<line x1="{px}" y1="{y0 + 5}" x2="{px}" y2="{y0 + 20}" stroke="{LOST}"/>')
        else:
            out.append(f'<rect x="{px}" y="{y0 + 25}" width="{bar}" height="20" fill="{colour[label]}"/>')
    return out


def _placed(events: list, axis: Axis, labelled: bool) -> list:
    """(x, ms, slave, what, row, label) of the events inside the axis. In a close-up each has a label (its
    time from the action), on the first row where it does not overlap an earlier label; near the right
    edge the label goes left of its mark."""
    out, free = [], []  # free: per row, the x where it is free again
    for ms, _pod, slave, what in events:
        if not axis.covers(ms):
            continue
        px = axis.x(ms)
        if not labelled:
            out.append((px, ms, slave, what, 0, ""))
            continue
        label = f"{slave} {what} {ms - axis.start_ms - BEFORE_MS:+.1f} ms"
        wide = CHAR_PX * len(label) + 16
        start = px - wide if px + wide > WIDTH else px - 6
        row = next((r for r, x in enumerate(free) if start >= x), len(free))
        if row == len(free):
            free.append(0.0)
        free[row] = max(px, start + wide) + 6
        out.append((px, ms, slave, what, row, label))
    return out


def _event_band(placed: list, pod: str, axis: Axis, top: float, colour: dict) -> list:
    """A bonded pod's kernel events (_placed): a mark each on its row, a faint line from it up through the
    flows, its label beside it."""
    out = [
        f'<text x="10" y="{top + 16}">kernel: {html.escape(pod)}</text>',
        f'<line x1="{axis.left}" y1="{top + 2}" x2="{axis.right}" y2="{top + 2}" stroke="#eee"/>',
    ]
    for px, ms, slave, what, row, label in placed:
        fill = colour.get(f"{pod}/{slave}", UNKNOWN)
        y = top + 13 + row * EVENT_ROW
        out.append(
            f'<line x1="{px:.1f}" y1="30" x2="{px:.1f}" y2="{y - 6}" stroke="{fill}" stroke-opacity="0.35"/>'
        )
        out.append(
            f'<path d="{SHAPES.get(what, SHAPES["active"])}" transform="translate({px:.1f},{y})" '
            f'fill="{fill}" stroke="#000" stroke-width="0.5">'
            f"<title>{html.escape(f'{ms:.1f} ms {slave} {what}')}</title></path>"
        )
        if label:
            right = px + 8 + CHAR_PX * len(label) > WIDTH
            anchor = f'x="{px - 8:.1f}" text-anchor="end"' if right else f'x="{px + 8:.1f}"'
            out.append(f'<text {anchor} y="{y + 4}">{html.escape(label)}</text>')
    return out


def _actions(actions: list, axis: Axis, bottom: float, labelled: bool) -> list:
    """Per action a dashed line where its step started, labelled (on two rows where close actions would
    overlap), and a solid one where it sent its first link change."""
    out, free = [], [0.0, 0.0]
    for action in actions:
        ms, text = action[:2]
        changed = origin_ms(action)
        if axis.covers(changed) and changed != ms:
            px = axis.x(changed)
            out.append(f'<line x1="{px:.1f}" y1="46" x2="{px:.1f}" y2="{bottom}" stroke="#000"/>')
        if not axis.covers(ms):
            continue
        px, label = axis.x(ms), text[:30] if not labelled else text[:80]
        row = 0 if px >= free[0] else 1 if px >= free[1] else min((0, 1), key=lambda r: free[r])
        free[row] = px + 6 * len(label) + 8
        out.append(
            f'<line x1="{px:.1f}" y1="{30 + 11 * row}" x2="{px:.1f}" y2="{bottom}" stroke="#000" '
            'stroke-dasharray="4 3"/>'
        )
        out.append(f'<text x="{px + 3:.1f}" y="{34 + 11 * row}" font-size="10">{html.escape(label)}</text>')
    return out


def _ticks() -> list:
    """A close-up's tick times, ms from its action: every TICK_MS from -BEFORE_MS to AFTER_MS."""
    return [-BEFORE_MS + i * TICK_MS for i in range(int((BEFORE_MS + AFTER_MS) // TICK_MS) + 1)]


def _grid(axis: Axis, origin: float, top: float, bottom: float) -> list:
    """A close-up's light vertical lines at its ticks."""
    return [
        f'<line x1="{axis.x(origin + t):.1f}" y1="{top}" x2="{axis.x(origin + t):.1f}" y2="{bottom}" '
        'stroke="#f0f0f0"/>'
        for t in _ticks()
    ]


def _axis_labels(axis: Axis, origin: float, labelled: bool, y: float) -> list:
    if not labelled:
        return [
            f'<text x="{axis.left}" y="{y}">0 ms</text>',
            f'<text x="{axis.right}" y="{y}" text-anchor="end">{axis.end_ms:.0f} ms</text>',
        ]
    return [
        f'<text x="{axis.x(origin + t):.1f}" y="{y}" text-anchor="middle">{t:+.0f} ms</text>'
        for t in _ticks()
    ]


def _legend(colour: dict, y: float) -> list:
    out, lx = [], LEFT
    for label, fill in [*colour.items(), ("lost", LOST)]:
        out.append(f'<rect x="{lx}" y="{y - 9}" width="10" height="10" fill="{fill}"/>')
        out.append(f'<text x="{lx + 14}" y="{y}">{html.escape(label)}</text>')
        lx += 30 + 7 * len(label)
    for kind in LEGEND_KINDS:
        out.append(f'<path d="{SHAPES[kind]}" transform="translate({lx + 5},{y - 4})" fill="#666"/>')
        out.append(f'<text x="{lx + 14}" y="{y}">{html.escape(kind)}</text>')
        lx += 30 + 7 * len(kind)
    return out
