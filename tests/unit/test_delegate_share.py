"""Lab VMs given the same kernel tests share them out: each runs only the test files it claims first in the
directory they share with the host, and one that stops (-x) stops the others. Played here by pytest sessions
that the delegate's guest side is told it runs in (no VM: the claiming is plain files)."""

import hashlib
import json
import os
import subprocess
import sys

from bondlab.pytest.delegate import CLAIMS_ENV, REPORT_ENV, Prefixed

FILES = {
    "test_a.py": "def test_a1():\n    pass\n\ndef test_a2():\n    assert 0\n",
    "test_b.py": "def test_b1():\n    pass\n",
}


def _session(tmp_path, claims, *args) -> set:
    """The test names a guest session ran."""
    reports = tmp_path / "reports.jsonl"
    reports.unlink(missing_ok=True)
    env = dict(os.environ, **{REPORT_ENV: str(reports), CLAIMS_ENV: str(claims), "BONDLAB_IN_GUEST": "1"})
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
         "-p", "bondlab.pytest.delegate", *args, *FILES],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = reports.read_text().splitlines() if reports.exists() else []
    return {json.loads(line)["nodeid"].split("::")[1] for line in lines}


def test_a_session_runs_the_files_no_other_claimed_first(tmp_path):
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    claims = tmp_path / "claims"
    claims.mkdir()
    other_vms_file = hashlib.sha256(str(tmp_path / "test_a.py").encode()).hexdigest()[:32]
    (claims / other_vms_file).touch()
    assert _session(tmp_path, claims) == {"test_b1"}
    assert _session(tmp_path, claims) == set()  # the first session claimed test_b.py


def test_a_session_that_stops_makes_the_others_stop(tmp_path):
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    claims = tmp_path / "claims"
    claims.mkdir()
    assert _session(tmp_path, claims, "-x") == {"test_a1", "test_a2"}
    assert (claims / "stop").exists()
    assert _session(tmp_path, claims) == set()


def test_output_of_several_sessions_comes_in_whole_lines_under_their_prefix(capsys):
    one, two = Prefixed("[vm 1] "), Prefixed("[vm 2] ")
    one.write(b"..")
    two.write("caf\N{LATIN SMALL LETTER E WITH ACUTE}".encode()[:-1])
    one.write(b". [100%]\n3 passed")
    two.write("caf\N{LATIN SMALL LETTER E WITH ACUTE}".encode()[-1:] + b"\n")
    one.write(b"")
    two.write(b"")
    assert capsys.readouterr().out == "[vm 1] ... [100%]\n[vm 2] caf\u00e9\n[vm 1] 3 passed\n"
    alone = Prefixed("")
    alone.write(b"..")
    assert capsys.readouterr().out == ".."
