"""A lab VM that stays up between commands: `bondlab vm up`, `vm exec -- CMD`, `vm down`.

The guest runs bondlab.vm.agent as its job; commands travel through a shared control directory
(see agent.py), so the channel needs no network address. State lives in
$BONDLAB_STATE/vm-<name>/ (default /run/bondlab): `pid`, `console.log` and the control directory.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bondlab.util import procs
from bondlab.util.paths import state_dir
from bondlab.vm.engine import Job, VmError, VmTimeout, group_members, job_env, kill_group
from bondlab.vm.guest import BOOT_TIMEOUT
from bondlab.vm.uml import UmlEngine

POLL = 0.002


class LabVm:
    def __init__(self, name: str = "default") -> None:
        self.name = name
        self.root = state_dir() / f"vm-{name}"
        self.ctl = self.root / "ctl"

    # -- state -----------------------------------------------------------------------------
    def pid(self):
        try:
            pid = int((self.root / "pid").read_text())
        except (OSError, ValueError):
            return None
        return pid if str(self.ctl) in " ".join(procs.command_line(pid)) else None

    def is_up(self) -> bool:
        return self.pid() is not None and (self.ctl / "ready").exists()

    def console_tail(self, lines: int = 15) -> str:
        try:
            text = (self.root / "console.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n    ".join(text.strip().splitlines()[-lines:])

    # -- lifecycle ---------------------------------------------------------------------------
    def up(self, rw_dirs=(), cwd=None) -> float:
        """Boot the VM in the background; return the seconds until its agent answered."""
        if self.pid() is not None:
            raise VmError(
                f"lab VM {self.name!r} is already up (pid {self.pid()}); `bondlab vm down` stops it"
            )
        shutil.rmtree(self.root, ignore_errors=True)
        (self.ctl / "queue").mkdir(parents=True)
        (self.ctl / "jobs").mkdir()
        engine = UmlEngine()
        job = Job(argv=[], cwd=cwd or os.getcwd(), rw_dirs=list(rw_dirs))
        agent = [sys.executable, "-m", "bondlab.vm.agent", str(self.ctl)]
        argv = engine.stage(
            self.ctl, job, agent, "=== bondlab agent starts ===", "=== bondlab agent stopped ==="
        )
        started = time.monotonic()
        with open(self.root / "console.log", "wb") as console:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.root / "pid").write_text(f"{proc.pid}\n")
        try:
            while not (self.ctl / "ready").exists():
                if proc.poll() is not None:
                    raise VmError("the lab VM stopped while booting; console:\n    " + self.console_tail())
                if time.monotonic() - started > BOOT_TIMEOUT:
                    raise VmError(f"the lab VM did not answer within {BOOT_TIMEOUT:g} s; it was killed")
                time.sleep(0.01)
        except BaseException:
            kill_group(proc.pid, proc)
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        return time.monotonic() - started

    def down(self, timeout: float = 20.0) -> bool:
        """Stop the VM (politely, then by force); False if none was up."""
        pid = self.pid()
        if pid is None:
            shutil.rmtree(self.root, ignore_errors=True)
            return False
        (self.ctl / "queue" / "shutdown").write_text("")
        end = time.monotonic() + timeout
        while group_members(pid) and time.monotonic() < end:
            time.sleep(0.02)
        kill_group(pid)
        shutil.rmtree(self.root, ignore_errors=True)
        return True

    # -- commands ----------------------------------------------------------------------------
    def exec(self, job: Job) -> int:
        if not self.is_up():
            raise VmError(f"lab VM {self.name!r} is not up; start it with `bondlab vm up`")
        job_id = secrets.token_hex(6)
        queue, jobs = self.ctl / "queue", self.ctl / "jobs"
        out_path, rc_path = jobs / f"{job_id}.out", jobs / f"{job_id}.rc"
        request = {
            "argv": list(job.argv),
            "cwd": os.path.realpath(job.cwd),
            "env": job_env(job, BONDLAB_IN_GUEST="uml", BONDLAB_ENGINE="host", TMPDIR="/tmp"),
            "timeout": job.timeout,
        }
        staged = queue / f"{job_id}.json.tmp"
        staged.write_text(json.dumps(request))
        os.rename(staged, queue / f"{job_id}.json")
        out = job.out or sys.stdout
        finished = False
        try:
            with _Tail(out_path, out) as tail:
                while True:
                    done = rc_path.exists()
                    tail.drain()
                    if done:
                        finished = True
                        code = int(rc_path.read_text())
                        if job.timeout and code == 124:
                            raise VmTimeout(f"the job did not finish within {job.timeout:g} s and was killed")
                        return code
                    if self.pid() is None:
                        raise VmError(
                            "the lab VM stopped during the job; console:\n    " + self.console_tail()
                        )
                    time.sleep(POLL)
        finally:
            if not finished and self.pid() is not None:
                (queue / f"{job_id}.cancel").write_text("")
                end = time.monotonic() + 5
                while not rc_path.exists() and time.monotonic() < end:
                    time.sleep(0.01)
            for leftover in (out_path, rc_path):
                try:
                    leftover.unlink()
                except FileNotFoundError:
                    pass


class _Tail:
    """Copy what a growing file gains to a stream."""

    def __init__(self, path: Path, out) -> None:
        self.path, self.out, self.stream = path, out, None

    def __enter__(self) -> _Tail:
        return self

    def __exit__(self, *exc) -> None:
        if self.stream:
            self.stream.close()

    def drain(self) -> None:
        if self.stream is None:
            try:
                self.stream = open(self.path, "rb")
            except FileNotFoundError:
                return
        data = self.stream.read()
        if data:
            self.out.write(data.decode("utf-8", "replace"))
            self.out.flush()
