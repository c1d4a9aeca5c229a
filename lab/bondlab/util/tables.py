"""Plain-text tables as the lab prints them (inspect, the run report, conformance, lint): columns padded
to their widest cell, two spaces apart, no trailing blanks."""

from __future__ import annotations


def table(rows: list, header: tuple) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)
