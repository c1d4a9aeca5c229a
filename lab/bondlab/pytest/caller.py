"""What a test calling the lab's Python API sees: its own line named in errors, and a step's failures as one
exception (the API (api) and its traffic half (probes) both use these)."""

from __future__ import annotations

import os
import sys


def caller_line() -> str:
    """file:line of the first frame outside this package (the test line that made a step)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("bondlab.pytest."):
        frame = frame.f_back
    if frame is None:
        return "<python>"
    return f"{os.path.relpath(frame.f_code.co_filename)}:{frame.f_lineno}"


def raise_failures(failures: list) -> None:
    """Raise the failures of a step as one exception (run.verdicts.as_error: its type says whether the test
    runs again, as a YAML scenario does)."""
    from bondlab.run.verdicts import as_error

    if failures:
        raise as_error(failures)
