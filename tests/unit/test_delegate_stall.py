"""A lab VM session that stops reporting tests (a UML guest wedged with its timers stopped) is stopped by the
watchdog, and one that keeps reporting is left alone: run_side_by_side with plain processes standing in for
`bondlab vm run` sessions (what the watchdog watches is the report file, not the VM)."""

import sys
import time

from bondlab.pytest.delegate import _stalled, run_side_by_side


def _session(tmp_path, n: int, script: str) -> tuple:
    report = tmp_path / f"reports-{n}.jsonl"
    return ([sys.executable, "-c", script.format(report=str(report))], {}, str(report))


def test_a_session_silent_past_the_limit_is_stopped_and_a_reporting_one_is_not(tmp_path):
    wedged = _session(tmp_path, 1, "import time; open({report!r}, 'w'); time.sleep(60)")
    steady = _session(
        tmp_path,
        2,
        "import time\nfor i in range(8):\n    open({report!r}, 'a').write('x\\n'); time.sleep(0.25)",
    )
    began = time.monotonic()
    codes, stalled = run_side_by_side([wedged, steady], str(tmp_path), stall_after=1.0)
    assert stalled == [1]
    assert codes[0] != 0 and codes[1] == 0
    assert time.monotonic() - began < 30  # stopped, not waited for


def test_the_clock_restarts_whenever_the_report_grows(tmp_path):
    path = tmp_path / "r.jsonl"
    progress: dict = {}
    assert not _stalled(progress, 1, str(path), 0.05)  # first look (no file yet)
    time.sleep(0.1)
    assert _stalled(progress, 1, str(path), 0.05)
    path.write_text("x\n")
    assert not _stalled(progress, 1, str(path), 0.05)
