"""What the running artifact was built from: bondcni/_build.py, which bondcni_build writes into bin/bond."""

from __future__ import annotations


def build_info() -> dict:
    """{"buildInfo": {commit, buildDate, pythonBytecode, ...}} in a built artifact; {} in the source tree."""
    try:
        from ._build import BUILD_INFO
    except ImportError:
        return {}
    return {"buildInfo": dict(BUILD_INFO)}
