"""What a conformance run prints and writes: a table per plugin grouped by level with counts, a
side-by-side table of several plugins, results.json and JUnit XML."""

from __future__ import annotations

import json
import os

from bondlab.conformance.registry import LABELS, LEVELS
from bondlab.report.render import legend, write_junit
from bondlab.util.tables import table


def counts(results: list) -> dict:
    """{plugin: {level: {status: n}}}."""
    out: dict = {}
    for r in results:
        level = out.setdefault(r.plugin, {}).setdefault(r.level, {})
        level[r.status] = level.get(r.status, 0) + 1
    return out


def _count_line(by_status: dict) -> str:
    return ", ".join(f"{n} {LABELS[s].lower()}" for s, n in sorted(by_status.items()))


def console(results: list) -> str:
    out = []
    for plugin, levels in counts(results).items():
        out.append(f"== {plugin}")
        for level in LEVELS:
            rows = [
                (r.case, LABELS[r.status], f"{r.seconds:.1f}", r.message[:110])
                for r in results
                if r.plugin == plugin and r.level == level
            ]
            if rows:
                out += [
                    "",
                    f"-- {level}: {_count_line(levels[level])}",
                    table(rows, ("CASE", "RESULT", "s", "REASON")),
                ]
        out.append("")
    return "\n".join(out)


def compare(results: list) -> str:
    """One row per case, a result column per plugin ([1], [2] ... in --plugin order)."""
    plugins = list(dict.fromkeys(r.plugin for r in results))
    by_key = {(r.plugin, r.case): r for r in results}
    cases = list(dict.fromkeys((r.level, r.case) for r in results))
    rows = [
        (level, case, *(LABELS[by_key[p, case].status] if (p, case) in by_key else "-" for p in plugins))
        for level, case in cases
    ]
    header = ("LEVEL", "CASE", *(f"[{i}]" for i in range(1, len(plugins) + 1)))
    return "\n".join(legend(plugins)) + "\n" + table(rows, header)


def write_all(results: list, directory: str) -> dict:
    os.makedirs(directory, exist_ok=True)
    paths = {"json": os.path.join(directory, "results.json"), "junit": os.path.join(directory, "junit.xml")}
    with open(paths["json"], "w") as stream:
        json.dump({"counts": counts(results), "results": [r.as_dict() for r in results]}, stream, indent=1)
    write_junit(results, paths["junit"], suite="conformance")
    return paths
