"""The fast tier keeps slow tests out by their markers, and fails an unmarked one that execs what a marker
stands for (tests/tiers.py), so that a new slow test cannot slip into it unnoticed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiers import _exec_marker

REPO = Path(__file__).resolve().parents[2]

SUITE = """
import subprocess, sys
import pytest

def test_pure():
    subprocess.run(["true"], check=True)

def test_boots_a_vm():
    subprocess.run(["taskset", "-c", "0", "true"])

def test_swallows_the_error():
    try:
        subprocess.run([sys.executable, "-m", "pip", "--version"])
    except RuntimeError:
        pass

@pytest.mark.browser
def test_marked():
    subprocess.run(["chromium", "--version"])
"""


@pytest.mark.parametrize(
    "argv, marker",
    [
        (["taskset", "-c", "1", "/root/.cache/bondlab/kernels/linux", "mem=2G"], "vm"),
        (["/usr/bin/qemu-system-x86_64", "-m", "2G"], "vm"),
        (["/usr/bin/chromedriver", "--port=0"], "browser"),
        (["/repo/bin/bond"], "build"),
        (["python3", "-m", "bondcni_build.bond", "--output", "bin/bond"], "build"),
        (["python3", "-m", "bondcni_build.standalone", "--output", "bin/bond-standalone"], "build"),
        (["python3", "-m", "venv", "/tmp/v"], "build"),
        (["/tmp/v/bin/pip", "install", "x"], "build"),
        (["python3", "-m", "bondcni"], ""),
        (["dot", "-Tsvg"], ""),
        (["ldd", "/bin/busybox"], ""),
    ],
)
def test_what_an_exec_needs(argv, marker):
    assert _exec_marker(argv) == marker


def test_the_fast_tier_deselects_marked_tests_and_fails_unmarked_slow_ones(tmp_path):
    (tmp_path / "test_suite.py").write_text(SUITE)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
         "-p", "tests.tiers", "--tier", "fast", "-rf", "test_suite.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "FAILED test_suite.py::test_boots_a_vm" in out and "mark it @pytest.mark.vm" in out
    assert "FAILED test_suite.py::test_swallows_the_error" in out and "mark it @pytest.mark.build" in out
    assert out.rstrip().splitlines()[-1].startswith("fast tier: 1 passed, 2 failed in "), out
    assert "1 deselected" in out
