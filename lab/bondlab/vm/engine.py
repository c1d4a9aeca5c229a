"""The engine interface and what all engines share: a job description and process-group hygiene."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Optional, Sequence

from bondlab.capabilities import Verdict
from bondlab.util import procs

# Exit codes of the runner itself, chosen to stay clear of the job's own (like timeout(1) and docker run).
EXIT_TIMEOUT = 124
EXIT_VM_ERROR = 125


class VmError(Exception):
    """The runner could not run the job (no kernel, the guest panicked, ...); the message says why."""

    exit_code = EXIT_VM_ERROR


class VmTimeout(VmError):
    exit_code = EXIT_TIMEOUT


@dataclass
class Job:
    """One command to run as root on a bonding kernel."""

    argv: Sequence[str]
    cwd: str = field(default_factory=os.getcwd)
    timeout: Optional[float] = None
    # Host directories the job may write to; everything else is read-only or thrown away in a VM.
    rw_dirs: Sequence[str] = ()
    env: Optional[dict] = None
    out: Optional[IO[str]] = None  # where the job's output is streamed; None: this process's stdout


@dataclass(frozen=True)
class GuestKernel:
    """What a guest boots: its kernel image, and where its modules are if the lab needs any loaded."""

    path: Path
    origin: str
    modules_dir: Optional[Path]
    netdevsim: bool

    def describe(self) -> str:
        return f"{self.origin} ({self.path})"


class Engine:
    name = "?"

    def available(self) -> Verdict:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name

    def run(self, job: Job) -> int:
        """Run the job, stream its output, return its exit code; raise VmError if it could not run."""
        raise NotImplementedError


def job_env(job: Job, **extra: str) -> dict:
    """The environment a job sees: the caller's, minus what belongs to the caller's terminal session."""
    env = dict(os.environ if job.env is None else job.env)
    for key in (
        "PWD",
        "OLDPWD",
        "SHLVL",
        "_",
        "TMUX",
        "TMUX_PANE",
        "SSH_AUTH_SOCK",
        "SSH_CONNECTION",
        "SSH_CLIENT",
    ):
        env.pop(key, None)
    env.update(extra)
    return env


def group_members(pgid: int) -> list:
    """Host processes still in a process group (UML's helper processes stay in the kernel's group)."""
    members = []
    for pid in procs.pids():
        fields = procs.stat_fields(pid)
        if fields and int(fields[2]) == pgid and fields[0] != "Z":
            members.append(pid)
    return members


def kill_group(
    pgid: int, proc: Optional[subprocess.Popen] = None, grace: float = 0.0, deadline: float = 10.0
) -> None:
    """Stop a process group (leader started with start_new_session=True); wait until none of it is left."""
    if grace and group_members(pgid):
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        end = time.monotonic() + grace
        while group_members(pgid) and time.monotonic() < end:
            time.sleep(0.01)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc is not None:
        proc.wait()
    end = time.monotonic() + deadline
    while group_members(pgid):
        if time.monotonic() > end:
            raise VmError(f"processes of group {pgid} survived SIGKILL: {group_members(pgid)}")
        time.sleep(0.01)


class Interrupted(BaseException):
    """SIGTERM turned into an exception, so cleanup runs as it does for Ctrl-C."""


def terminate_as_exception() -> object:
    """Make SIGTERM unwind the stack (and run every finally) instead of killing us outright."""

    def handler(signum, frame):
        raise Interrupted(f"signal {signum}")

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        return None


def restore_signal(previous: object) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
