"""Lint findings for a person (a table: file:line, severity, code, message, fix) or a program (JSON)."""

from __future__ import annotations

import json

EXIT_CLEAN, EXIT_ERRORS, EXIT_UNREADABLE = 0, 1, 2


def exit_code(findings: list) -> int:
    return EXIT_ERRORS if any(f.severity == "error" for f in findings) else EXIT_CLEAN


def render(findings: list, form: str = "table") -> str:
    if form == "json":
        return json.dumps([f.to_dict() for f in findings], indent=2)
    lines = [f"{f.file}:{f.line}: {f.severity} [{f.code}] {f.message}\n    fix: {f.fix}" for f in findings]
    counts = {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "info")}
    lines.append(", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items()))
    return "\n".join(lines)
