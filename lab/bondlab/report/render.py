"""Reports of a scenario run: the console table (in the spirit of Multi-NIC CNI's connection check: FROM,
TO, CONNECTED/TOTAL, plus the outage and losses of every step), JSON, JUnit XML, a timeline picture per
scenario (SVG written by hand: probes over time coloured by the slave that carried them, actions marked)
and an HTML page linking them.
"""

from __future__ import annotations

import html
import json
import os
import zlib
from xml.sax.saxutils import escape, quoteattr

from bondlab.run.traffic import STALL_LIMIT_MS
from bondlab.util.stats import percentile
from bondlab.world.inspect import table

STATUS = {"passed": "PASS", "failed": "FAIL", "xfailed": "XFAIL", "xpassed": "XPASS", "error": "ERROR"}


def console(results: list) -> str:
    out = []
    for r in results:
        out.append("#" * 60)
        out.append(f"## {STATUS[r.status]:5}  {r.name}  ({r.path}, {r.seconds:.1f} s, plugin {r.plugin})")
        if r.description:
            out.append(f"##        {r.description}")
        out.append("#" * 60)
        if r.windows:
            rows = []
            for w in r.windows:
                slaves = " ".join(f"{k}:{v}" for k, v in sorted(w["per_slave"].items()))
                rows.append(
                    (
                        w["action"][:40],
                        w["from"],
                        w["to"],
                        f"{w['delivered']}/{w['sent']}",
                        f"{w['outage_ms']:.1f}",
                        w["lost"],
                        w["duplicated"],
                        w["reordered"],
                        f"{w.get('stall_ms', 0):.1f}"
                        + ("!" if w.get("stall_ms", 0) > STALL_LIMIT_MS else ""),
                        slaves,
                    )
                )
            out.append(
                table(
                    rows,
                    (
                        "STEP",
                        "FROM",
                        "TO",
                        "CONNECTED/TOTAL",
                        "OUTAGE ms",
                        "LOST",
                        "DUP",
                        "REORD",
                        "STALL ms",
                        "CARRIED BY",
                    ),
                )
            )
        if getattr(r, "failovers", None):
            rows = [(f["action"][:40], f["pod"], _ms(f["garp_ms"]), _ms(f["event_ms"])) for f in r.failovers]
            out.append(
                table(rows, ("STEP", "POD", "FAILOVER ms (GARP, kernel ts)", "NETLINK EVENT ms (read)"))
            )
        if r.connectivity:
            rows = [(c["from"], c["to"], f"{c['connected']}/{c['total']}", c["ip"]) for c in r.connectivity]
            out.append(table(rows, ("FROM", "TO", "CONNECTED/TOTAL", "IP")))
        for s in r.steps:
            if s.ok is not None:
                out.append(f"  {'ok  ' if s.ok else 'FAIL'} {s.text[:70]}  {s.message}")
        for n, dropped in enumerate(getattr(r, "retried", []), start=1):
            out.append(f"  attempt {n} dropped (measurement error only): " + dropped.splitlines()[0])
        if r.message:
            out.append("  " + r.message.replace("\n", "\n  "))
        if r.expect_failure:
            out.append(f"  expected failure: {r.expect_failure}")
        out.append("")
    counts: dict = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    out.append(f"{len(results)} scenario(s): " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(out)


def _ms(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def outage_summary(results: list) -> str:
    """p50/p95/max of the outage of every cut/fail step over all runs (ms)."""
    values = [
        w["outage_ms"]
        for r in results
        for w in r.windows
        if w["action"].startswith(("cut", "linkState", "admin"))
    ]
    if not values:
        return "no failover steps"
    lines = [_p("failover outage (probes)", "flow-steps", values)]
    stalled = [w for r in results for w in r.windows if w.get("stall_ms", 0) > STALL_LIMIT_MS]
    if stalled:
        lines.append(
            f"measurement errors: {len(stalled)} window(s) where a probe sender stalled > "
            f"{STALL_LIMIT_MS:g} ms (worst {max(w['stall_ms'] for w in stalled):.1f} ms)"
        )
    for key, what in (
        ("garp_ms", "kernel failover (GARP, kernel ts)"),
        ("event_ms", "netlink failover event"),
    ):
        got = [f[key] for r in results for f in getattr(r, "failovers", []) if f.get(key) is not None]
        if got:
            lines.append(_p(what, "cuts", got))
    return "\n".join(lines)


def _p(what: str, unit: str, values: list) -> str:
    return (
        f"{what} over {len(values)} {unit}: p50 {percentile(values, 50):.1f} ms, "
        f"p95 {percentile(values, 95):.1f} ms, max {max(values):.1f} ms"
    )


def compare(by_plugin: dict) -> str:
    """Side-by-side: one row per scenario, a status and worst outage column per plugin."""
    plugins = list(by_plugin)
    names = []
    for results in by_plugin.values():
        for r in results:
            if r.path not in names:
                names.append(r.path)
    rows = []
    for path in names:
        row = [os.path.relpath(path)]
        for plugin in plugins:
            r = next((x for x in by_plugin[plugin] if x.path == path), None)
            if r is None:
                row += ["-", "-"]
                continue
            worst = max((w["outage_ms"] for w in r.windows), default=0)
            row += [STATUS[r.status], f"{worst:.1f}"]
        rows.append(tuple(row))
    header = ["SCENARIO"]
    for i in range(len(plugins)):
        header += [f"[{i + 1}] STATUS", f"[{i + 1}] MAX OUTAGE ms"]
    legend = "\n".join(f"[{i + 1}] {p}" for i, p in enumerate(plugins))
    return legend + "\n" + table(rows, tuple(header))


def write_json(results: list, path: str) -> None:
    with open(path, "w") as stream:
        json.dump([r.as_dict() for r in results], stream, indent=1)


def write_junit(results: list, path: str, suite: str = "scenarios") -> None:
    """JUnit XML of results with a `path` (the test's name), `status` (passed, failed, xfailed, xpassed,
    skipped, error), `message` and `seconds`: scenario results, conformance cases."""
    failures = sum(r.status in ("failed", "xpassed") for r in results)
    errors = sum(r.status == "error" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    total = sum(r.seconds for r in results)
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<testsuites><testsuite name="bondlab-{suite}" tests="{len(results)}" failures="{failures}" '
        f'errors="{errors}" skipped="{skipped}" time="{total:.2f}">',
    ]
    for r in results:
        lines.append(
            f'  <testcase classname={quoteattr(suite)} name={quoteattr(r.path)} time="{r.seconds:.2f}">'
        )
        text = escape(r.message or "")
        if r.status in ("failed", "xpassed"):
            lines.append(
                f"    <failure message={quoteattr((r.message or r.status).splitlines()[0])}>{text}</failure>"
            )
        elif r.status == "error":
            lines.append(
                f"    <error message={quoteattr((r.message or 'error').splitlines()[0])}>{text}</error>"
            )
        elif r.status == "xfailed":
            lines.append(
                f"    <system-out>expected failure: {escape(r.expect_failure or '')}\n{text}</system-out>"
            )
        elif r.status == "skipped":
            lines.append(f"    <skipped message={quoteattr((r.message or 'skipped').splitlines()[0])}/>")
        lines.append("  </testcase>")
    lines.append("</testsuite></testsuites>")
    with open(path, "w") as stream:
        stream.write("\n".join(lines) + "\n")


PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def svg(result) -> str:
    """Probes over time, one band per flow; a dot per probe coloured by the slave that carried it, red ticks
    for lost probes, dashed lines at the actions."""
    tl = result.timeline
    if not tl:
        return ""
    width, left, band = 1100, 170, 60
    flows = tl["flows"]
    height = 72 + band * len(flows) + 40
    end = max(tl["end_ms"], 1)
    # a slave keeps its colour across scenarios (net1 blue, net2 orange ...); "?" (no switch port saw the
    # probe) is grey and in the legend only when it occurs
    seen = {p[1] for ps in tl["probes"].values() for p in ps if p[1]}
    colour = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(sorted(seen - {"?"}))}
    if "?" in seen:
        colour["?"] = "#999999"

    def x(ms: float) -> float:
        return left + (width - left - 20) * ms / end

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        'font-size="11">',
        f'<text x="10" y="18" font-size="14">{html.escape(result.name)}: {STATUS[result.status]}</text>',
    ]
    for i, flow in enumerate(flows):
        y0 = 52 + i * band
        out.append(f'<text x="10" y="{y0 + band / 2}">{html.escape(flow)}</text>')
        out.append(
            f'<line x1="{left}" y1="{y0 + band - 5}" x2="{width - 20}" y2="{y0 + band - 5}" stroke="#ddd"/>'
        )
        last_x = {}
        for ms, label in tl["probes"][flow]:
            if not 0 <= ms <= end:  # sent before traffic officially started or after it stopped
                continue
            px = round(x(ms))  # whole pixels: at 1000/s a 10 s run has ~10 probes per pixel
            key = label or "lost"
            if last_x.get(key) == px:  # one mark per pixel and kind keeps the file small
                continue
            last_x[key] = px
            if label is None:
                out.append(f'<line x1="{px}" y1="{y0 + 5}" x2="{px}" y2="{y0 + 20}" stroke="#d62728"/>')
            else:
                out.append(f'<rect x="{px}" y="{y0 + 25}" width="1" height="20" fill="{colour[label]}"/>')
    free = [0.0, 0.0]  # where each of two label rows is free again: close actions' labels alternate rows
    for ms, text in tl["actions"]:
        px = x(ms)
        row = 0 if px >= free[0] else 1 if px >= free[1] else min((0, 1), key=lambda r: free[r])
        free[row] = px + 6 * len(text[:30]) + 8
        out.append(
            f'<line x1="{px:.1f}" y1="{30 + 11 * row}" x2="{px:.1f}" y2="{height - 40}" stroke="#000" '
            'stroke-dasharray="4 3"/>'
        )
        out.append(
            f'<text x="{px + 3:.1f}" y="{34 + 11 * row}" font-size="10">{html.escape(text[:30])}</text>'
        )
    y = height - 20
    out.append(f'<text x="{left}" y="{y}">0 ms</text><text x="{width - 80}" y="{y}">{end:.0f} ms</text>')
    lx = left + 120
    for label, fill in [*colour.items(), ("lost", "#d62728")]:
        out.append(f'<rect x="{lx}" y="{y - 9}" width="10" height="10" fill="{fill}"/>')
        out.append(f'<text x="{lx + 14}" y="{y}">{html.escape(label)}</text>')
        lx += 30 + 7 * len(label)
    out.append("</svg>")
    return "\n".join(out)


def write_all(results: list, directory: str) -> dict:
    """JSON, JUnit, one SVG per scenario and index.html into `directory`; returns their paths."""
    os.makedirs(directory, exist_ok=True)
    paths = {"json": os.path.join(directory, "results.json"), "junit": os.path.join(directory, "junit.xml")}
    write_json(results, paths["json"])
    write_junit(results, paths["junit"])
    rows = []
    for r in results:
        picture = ""
        drawing = svg(r)
        if drawing:
            picture = f"{r.name}-{zlib.crc32(r.plugin.encode()) % 10000}.svg"  # stable: a rerun overwrites
            with open(os.path.join(directory, picture), "w") as stream:
                stream.write(drawing)
        worst = max((w["outage_ms"] for w in r.windows), default=0)
        rows.append(
            f"<tr class={quoteattr(r.status)}><td>{html.escape(r.name)}</td><td>{STATUS[r.status]}</td>"
            f"<td>{r.seconds:.1f}</td><td>{worst:.1f}</td><td>{html.escape(r.plugin)}</td>"
            f"<td>{f'<a href={quoteattr(picture)}>timeline</a>' if picture else ''}</td>"
            f"<td><pre>{html.escape(r.message or r.description)}</pre></td></tr>"
        )
    page = (
        "<!doctype html><meta charset=utf-8><title>bondlab scenarios</title><style>"
        "body{font-family:sans-serif}td{border-bottom:1px solid #ddd;padding:3px 8px;vertical-align:top}"
        ".failed,.error,.xpassed{background:#fdd}.passed{background:#dfd}.xfailed{background:#ffd}"
        "pre{margin:0;white-space:pre-wrap}</style><h1>bondlab scenarios</h1>"
        f"<p>{html.escape(outage_summary(results))}</p>"
        "<p><a href=results.json>results.json</a> · <a href=junit.xml>junit.xml</a></p><table>"
        "<tr><th>scenario<th>status<th>s<th>max outage ms<th>plugin<th>picture<th>notes</tr>"
        + "".join(rows)
        + "</table>"
    )
    paths["html"] = os.path.join(directory, "index.html")
    with open(paths["html"], "w") as stream:
        stream.write(page)
    return paths
