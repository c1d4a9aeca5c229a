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


CONFTEST = """
from bondlab.pytest.fixtures import OURS

pytest_plugins = ["bondlab.pytest.fixtures"]


def pytest_collection_modifyitems(items):
    for item in items:
        item.stash[OURS] = True  # as if it used the lab fixtures (no kernel here)
"""
RETRIED = """
import pytest

from bondlab.traffic.verdict import ExpectationFailed, MeasurementError

SEEN = []


@pytest.fixture
def fresh():
    yield object()
    SEEN.append("torn down")


def test_blind_once(fresh):
    SEEN.append(fresh)
    if len(SEEN) == 1:
        raise MeasurementError("measurement error: injected")
    assert SEEN[1] == "torn down" and SEEN[0] is not SEEN[2]


def test_a_real_failure_is_not_run_again(fresh):
    raise ExpectationFailed("measurement error, in the words only")


def test_after_them_the_next_test_sets_up(fresh):
    pass
"""


def test_a_measurement_error_runs_the_test_again_with_fresh_fixtures_public_api_only(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_retried.py").write_text(RETRIED)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", "-c", "/dev/null"]
    text = subprocess.run(
        [*argv, str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    ).stdout
    assert "1 failed, 2 passed" in text, text
    assert "bondlab: attempts run again after measurement errors" in text
    assert "attempt 1: measurement error: injected" in text and "attempt 2" not in text
    assert "FAILED test_retried.py::test_a_real_failure_is_not_run_again" in text
