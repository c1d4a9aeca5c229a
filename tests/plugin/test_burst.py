"""A burst of pods at once (benchmarks/burst.py, small): no ADD or DEL fails for a lock, nothing is left."""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

import pytest

from .conftest import plugin_command

pytestmark = pytest.mark.kernel
BURST = Path(__file__).resolve().parents[2] / "benchmarks" / "burst.py"


def _burst_module():
    spec = importlib.util.spec_from_file_location("burst", BURST)
    module = importlib.util.module_from_spec(spec)
    sys.modules["burst"] = module
    spec.loader.exec_module(module)
    return module


def test_twenty_pods_at_once_then_deleted_at_once():
    burst = _burst_module()
    with tempfile.TemporaryDirectory() as tmp:
        b = burst.Burst(plugin_command(), 20, 0, tmp)
        try:
            b.create()
            _, add_errors = b.wave("ADD")
            assert add_errors == []
            assert b.leaks()["bonds"] == 20
            _, del_errors = b.wave("DEL")
            assert del_errors == []
            assert b.leaks() == {"bonds": 0, "enslaved": 0, "leases": 0, "records": 0}
        finally:
            b.destroy()
