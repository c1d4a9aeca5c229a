"""bondlab.pytest.fixtures marks every test that uses its lab fixtures `kernel` at collection (before -m
selects and before the lab VM delegate picks what runs in the VM); other tests stay unmarked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def collect(*args: str) -> str:
    argv = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120).stdout


def test_tests_on_the_lab_fixtures_are_kernel_tests():
    python_scenarios = "scenarios/python/test_active_backup_failover.py"
    selected = collect("-m", "kernel", python_scenarios)
    assert "test_cutting_the_active_vf_fails_over_within_miimon" in selected
    assert "test_no_failback_without_primary_and_restoring_loses_nothing" in selected
    unmarked = collect("-m", "not kernel", python_scenarios, __file__)
    assert "scenarios/python" not in unmarked and "2 deselected" in unmarked
    assert "tests/unit/test_fixtures_plugin.py::test_tests_on_the_lab_fixtures_are_kernel_tests" in unmarked
