"""The lab VM delegate replays the guest's test reports on the host: every outcome must come back in a
form pytest's own reporters take (the terminal and --junitxml, which CI writes)."""

import os
import subprocess
import sys
from pathlib import Path

from bondlab.pytest.delegate import REPORT_ENV, report_from_json

GUEST_TESTS = """
import pytest

def test_passes():
    pass

def test_fails():
    assert 1 == 2

def test_skips():
    pytest.skip("no such kernel here")

@pytest.mark.skip(reason="marked")
def test_marked_skip():
    pass

@pytest.mark.xfail(reason="known")
def test_xfails():
    assert False
"""


def test_every_outcome_of_the_guest_replays_into_junitxml(tmp_path, pytestconfig):
    from _pytest.junitxml import LogXML

    (tmp_path / "test_guest.py").write_text(GUEST_TESTS)
    reports = tmp_path / "reports.jsonl"
    env = dict(os.environ, **{REPORT_ENV: str(reports), "BONDLAB_IN_GUEST": "1"})
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "bondlab.pytest.delegate",
         "test_guest.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    replayed = [report_from_json(pytestconfig, line) for line in reports.read_text().splitlines()]
    outcomes = {(r.nodeid.split("::")[1], r.when): r.outcome for r in replayed}
    assert outcomes[("test_skips", "setup")] == "passed"
    assert outcomes[("test_skips", "call")] == "skipped"
    assert outcomes[("test_marked_skip", "setup")] == "skipped"
    assert outcomes[("test_fails", "call")] == "failed"
    assert outcomes[("test_xfails", "call")] == "skipped"

    xml = LogXML(str(tmp_path / "junit.xml"), None)
    xml.config = pytestconfig
    xml.pytest_sessionstart()
    for report in replayed:
        xml.pytest_runtest_logreport(report)
    xml.pytest_sessionfinish()
    written = Path(tmp_path / "junit.xml").read_text()
    assert written.count("<skipped") == 3 and "no such kernel here" in written and "marked" in written
    assert written.count("<failure") == 1
