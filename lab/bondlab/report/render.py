"""Reports of a scenario run: the console table (in the spirit of Multi-NIC CNI's connection check: FROM,
TO, CONNECTED/TOTAL, plus the outage and losses of every step), JSON, JUnit XML, and HTML: index.html with
one row per scenario, and per scenario with traffic a timeline page of pictures (report.pictures: the whole
run and a close-up of each action).
"""

from __future__ import annotations

import html
import json
import os
import zlib
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from bondlab.model.steps import FAILURES
from bondlab.report import pictures
from bondlab.traffic.window import STALL_LIMIT_MS, sessions_per_slave, stalled
from bondlab.util.stats import percentile
from bondlab.util.tables import table

STATUS = {
    "passed": "PASS",
    "failed": "FAIL",
    "xfailed": "XFAIL",
    "xpassed": "XPASS",
    "skipped": "SKIP",  # the kernel lacks what the scenario requires: the message says what
    "error": "ERROR",
}


def console(results: list) -> str:
    out = []
    for r in results:
        out.append("#" * 60)
        out.append(
            f"## {STATUS[r.status]:5}  {r.name}  ({r.path}, {r.seconds:.1f} s, plugin {r.plugin}, "
            f"kernel {r.kernel})"
        )
        if r.description:
            out.append(f"##        {r.description}")
        out.append("#" * 60)
        if r.windows:
            rows = []
            for w in r.windows:
                unsent = w.figures.unsent or {}
                held = sessions_per_slave(w.figures.per_session or [])
                slaves = " ".join(
                    f"{k}:{v}" + (f" ({held.get(k, 0)} sessions)" if held else "")
                    for k, v in sorted(w.figures.per_slave.items())
                )
                arrived = w.figures.per_slave_in  # pod to pod: the receiver's end too
                slaves += (" -> " + " ".join(f"{k}:{v}" for k, v in sorted(arrived.items()))) * bool(arrived)
                rows.append(
                    (
                        w.action[:40],
                        w.src,
                        w.dst,
                        f"{w.figures.delivered}/{w.figures.sent}",
                        f"{w.figures.outage_ms:.1f}",
                        f"{w.figures.lost}"
                        + (" (unsent: " + ", ".join(f"{k} {v}" for k, v in sorted(unsent.items())) + ")")
                        * bool(unsent),
                        w.figures.duplicated,
                        w.figures.reordered,
                        f"{w.figures.stall_ms:.1f}" + ("!" if stalled(w.figures.stall_ms) else ""),
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
        if r.failovers:
            rows = [(f.action[:40], f.pod, _ms(f.garp_ms), _ms(f.event_ms)) for f in r.failovers]
            out.append(
                table(rows, ("STEP", "POD", "FAILOVER ms (GARP, kernel ts)", "NETLINK EVENT ms (read)"))
            )
        if r.connectivity:
            measured = any(c.bandwidth is not None for c in r.connectivity)
            rows = [
                (c.src, c.dst, f"{c.connected}/{c.total}", c.ip)
                + ((f"{c.bandwidth / 1e6:.1f}" if c.bandwidth is not None else "-",) if measured else ())
                for c in r.connectivity
            ]
            out.append(table(rows, ("FROM", "TO", "CONNECTED/TOTAL", "IP") + ("Mbit/s",) * measured))
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
    """p50/p95/max of the outage of every flow's window after a failure action (model.steps.FAILURES) over
    all runs (ms)."""
    values = [ms for r in results for ms in r.failure_outages]
    if not values:
        return f"no traffic window after a failure step ({FAILURES})"
    lines = [_p("outage after a failure (probes)", "flow-steps", values)]
    paused = [w.figures for r in results for w in r.windows if stalled(w.figures.stall_ms)]
    if paused:
        lines.append(
            f"measurement errors: {len(paused)} window(s) where a probe sender stalled > "
            f"{STALL_LIMIT_MS:g} ms (worst {max(w.stall_ms for w in paused):.1f} ms)"
        )
    dropped = [w.figures for r in results for w in r.windows if w.figures.backlog_drops]
    if dropped:
        lines.append(
            f"measurement errors: {len(dropped)} window(s) where the lab's kernel dropped frames at its"
            f" input backlog (worst {max(w.backlog_drops for w in dropped)} frames)"
        )
    for key, what in (
        ("garp_ms", "kernel failover (GARP, kernel ts)"),
        ("event_ms", "netlink failover event"),
    ):
        got = [getattr(f, key) for r in results for f in r.failovers if getattr(f, key) is not None]
        if got:
            lines.append(_p(what, "cuts", got))
    return "\n".join(lines)


def _p(what: str, unit: str, values: list) -> str:
    return (
        f"{what} over {len(values)} {unit}: p50 {percentile(values, 50):.1f} ms, "
        f"p95 {percentile(values, 95):.1f} ms, max {max(values):.1f} ms"
    )


# ScenarioResult.worst_outage_ms's column, everywhere, and what it covers
WORST_OUTAGE = "worst outage after a failure, ms"
WORST_OUTAGE_COVERS = (
    f"the worst of any flow over the windows after a failure action ({FAILURES}); a setup action's "
    "window (such as an LACP partner forming) does not count"
)


def _worst(r) -> str:
    return _ms(r.worst_outage_ms)


def legend(plugins: list) -> list:
    """[N] PATH, once per plugin: rows and columns say [N] instead of the path."""
    return [f"[{i + 1}] {p}" for i, p in enumerate(plugins)]


def compare(columns: dict) -> str:
    """Side-by-side: one row per scenario, a status and worst outage column per label (a plugin, a kernel, or
    a plugin on a kernel), each label's results as results.json records (ScenarioResult.as_dict): a run in
    this process and runs read back from guests are compared the same way."""
    labels = list(columns)
    paths = list(dict.fromkeys(record["path"] for records in columns.values() for record in records))
    by_key = {(label, record["path"]): record for label, records in columns.items() for record in records}
    rows = []
    for path in paths:
        row = [os.path.relpath(path)]
        for label in labels:
            record = by_key.get((label, path))
            if record is None:
                row += ["-", "-"]
                continue
            status = record["status"]
            row += [STATUS.get(status, status.upper()), _ms(record["worst_outage_ms"])]
        rows.append(tuple(row))
    header = ["SCENARIO"]
    for i in range(len(labels)):
        header += [f"[{i + 1}] STATUS", f"[{i + 1}] WORST OUTAGE ms"]
    covers = f"WORST OUTAGE: {WORST_OUTAGE_COVERS}"
    return "\n".join(legend(labels)) + "\n" + table(rows, tuple(header)) + "\n" + covers


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
        if getattr(r, "kernel", ""):  # conformance cases have none
            kernel = quoteattr(r.kernel)
            lines.append(f'    <properties><property name="kernel" value={kernel}/></properties>')
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


def write_all(results: list, directory: str) -> dict:
    """JSON, JUnit, index.html and, per scenario with traffic, a timeline page (the whole run and a close-up
    of each action, SVG files) into `directory`; returns the paths of the first three."""
    os.makedirs(directory, exist_ok=True)
    paths = {"json": os.path.join(directory, "results.json"), "junit": os.path.join(directory, "junit.xml")}
    write_json(results, paths["json"])
    write_junit(results, paths["junit"])
    rows, runs = [], {}
    kernels = sorted({r.kernel for r in results})
    per_row = len(kernels) > 1  # else one line at the top
    plugins = list(dict.fromkeys(r.plugin for r in results))
    for r in results:
        base = f"{r.name}-{zlib.crc32(r.plugin.encode()) % 10000}"  # stable: a rerun overwrites
        runs[base] = runs.get(base, 0) + 1
        page = write_timeline(r, directory, base + (f"-run{runs[base]}" if runs[base] > 1 else ""))
        label = f"[{plugins.index(r.plugin) + 1}]"
        rows.append(
            f"<tr class={quoteattr(r.status)}><td>{html.escape(r.name)}</td><td>{STATUS[r.status]}</td>"
            f"<td>{r.seconds:.1f}</td><td>{_worst(r)}</td><td title={quoteattr(r.plugin)}>{label}</td>"
            + (f"<td>{html.escape(r.kernel)}</td>" if per_row else "")
            + f"<td>{f'<a href={quoteattr(quote(page))}>timeline</a>' if page else ''}"
            f"{f' <a href={quoteattr(quote(r.capture))}>pcapng</a>' if r.capture else ''}</td>"
            f"<td><pre>{html.escape(r.message or r.description)}</pre></td></tr>"
        )
    page = (
        page_head("bondlab scenarios")
        + "<h1>bondlab scenarios</h1>"
        + "<ul>"
        + "".join(f"<li>{html.escape(line)}" for line in outage_summary(results).splitlines())
        + "</ul>"
        + (f"<p>kernel: {html.escape(kernels[0])}</p>" if len(kernels) == 1 else "")
        + "<p>plugins (a row's [N]):</p><ul>"
        + "".join(f"<li>{html.escape(line)}" for line in legend(plugins))
        + f"</ul><p>{html.escape(f'{WORST_OUTAGE}: {WORST_OUTAGE_COVERS}')}</p>"
        + "<p><a href=results.json>results.json</a> · <a href=junit.xml>junit.xml</a></p><table>"
        f"<tr><th>scenario<th>status<th>s<th>{html.escape(WORST_OUTAGE)}<th>plugin"
        + "<th>kernel" * per_row
        + "<th>picture<th>notes</tr>"
        + "".join(rows)
        + "</table>"
    )
    paths["html"] = os.path.join(directory, "index.html")
    with open(paths["html"], "w") as stream:
        stream.write(page)
    return paths


def page_head(title: str) -> str:
    return (
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif}td{border-bottom:1px solid #ddd;padding:3px 8px;vertical-align:top}"
        ".failed,.error,.xpassed{background:#fdd}.passed{background:#dfd}.xfailed{background:#ffd}"
        ".skipped{background:#eee}"
        "pre{margin:0;white-space:pre-wrap}img{max-width:100%;border:1px solid #ddd}</style>"
    )


def write_timeline(r, directory: str, base: str) -> str:
    """The scenario's timeline page BASE.html and its pictures BASE*.svg; returns the page's file name (""
    without traffic)."""
    tl = r.timeline
    if not tl:
        return ""
    figures = [("whole run", f"{base}.svg", pictures.overview(tl, f"{r.name}: {STATUS[r.status]}"))]
    per_flow: dict = {}
    for w in r.windows:  # each flow's windows: the start's, then one per action in order (runner._figures)
        per_flow.setdefault(w.flow, []).append(w)
    for k, action in enumerate(tl["actions"]):
        caption = _caption([ws[k + 1] for ws in per_flow.values() if len(ws) > k + 1])
        changed = pictures.origin_ms(action)
        when = f"at {action[0]:.0f} ms" + (
            f", link change at {changed:.0f} ms" if changed != action[0] else ""
        )
        title = f"{action[1]} {when}" + (f": {caption}" if caption else "")
        figures.append((title, f"{base}-{k + 1}.svg", pictures.close_up(tl, k, f"{r.name}: {title}")))
    body = [
        page_head(f"{r.name} timeline"),
        "<p><a href=index.html>all scenarios</a></p>",
        f"<h1>{html.escape(r.name)}: {STATUS[r.status]}</h1><p>{html.escape(r.description)}</p>",
        f"<p>kernel: {html.escape(r.kernel)}</p>",
        f"<pre>{html.escape(r.message)}</pre>" if r.message else "",
        f"<p>capture: <a href={quoteattr(quote(r.capture))}>{html.escape(r.capture)}</a> (every tapped "
        "frame; one interface per tap, a comment at each action)</p>"
        if r.capture
        else "",
    ]
    if len(r.fabric) > 1:  # a fabric of ToRs: which switch each PF's cable lands on, and their cables
        rows = "".join(
            f"<tr><td>{html.escape(sw['switch'])}</td><td>{html.escape(sw['mlag'] or '-')}</td>"
            f"<td>{html.escape(' '.join(sw['pf_cables']) or '-')}</td>"
            f"<td>{html.escape(' '.join(sw['cabled_to']) or '-')}</td></tr>"
            for sw in r.fabric
        )
        body.append(
            "<h2>the lab's fabric</h2><table><tr><th>switch</th><th>MLAG</th><th>PF cables (NODE/PF)</th>"
            f"<th>cabled to</th></tr>{rows}</table>"
        )
    for title, name, drawing in figures:
        with open(os.path.join(directory, name), "w") as stream:
            stream.write(drawing)
        href = quoteattr(quote(name))
        body.append(
            f"<h2>{html.escape(title)}</h2><a href={href}><img src={href} alt={quoteattr(title)}></a>"
        )
    with open(os.path.join(directory, f"{base}.html"), "w") as stream:
        stream.write("\n".join(body))
    return f"{base}.html"


def _caption(windows: list) -> str:
    """An action's traffic figures in a close-up's title: outage per flow, probes lost."""
    if not windows:
        return ""
    outages = ", ".join(f"{w.flow} {w.figures.outage_ms:.1f} ms" for w in windows)
    return f"outage {outages}; lost {sum(w.figures.lost for w in windows)}"
