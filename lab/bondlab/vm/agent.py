"""The guest side of a lab VM that stays up: runs commands the host queues in a shared directory.

Channel (no network address needed): the control directory is a hostfs mount of a host directory.
The host drops `queue/<id>.json` (written elsewhere, then renamed in, so it is never half-read);
the agent runs it with output to `jobs/<id>.out` (hostfs writes go straight through to the host
file) and writes `jobs/<id>.rc` when it ends. `queue/<id>.cancel` kills a job's process group;
`queue/shutdown` stops everything and lets init power the guest off. Standard library only.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

# Poll the queue fast while commands come in, back off otherwise - also while a job runs: each wakeup
# is a few trapped syscalls on hostfs, CPU the job would otherwise have (every 2 ms for as long as a job
# ran, before). A job's end wakes the loop at once through SIGCHLD.
POLL_FAST, POLL_IDLE = 0.002, 0.05


def _write_atomically(path: str, text: str) -> None:
    with open(path + ".tmp", "w") as stream:
        stream.write(text)
    os.rename(path + ".tmp", path)


def _forget_host_files() -> None:
    """hostfs keeps what it read in the guest's caches and does not see the host change it: drop
    them, so a job sees the files (code, configs) as the host has them now, not as at boot."""
    try:
        with open("/proc/sys/vm/drop_caches", "w") as knob:
            knob.write("3\n")
    except OSError:
        pass


def _start(ctl: str, job_id: str, request: dict) -> subprocess.Popen:
    output = open(os.path.join(ctl, "jobs", job_id + ".out"), "wb", buffering=0)
    try:
        return subprocess.Popen(
            request["argv"],
            cwd=request.get("cwd") or "/",
            env=request.get("env") or dict(os.environ),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as error:
        output.write(f"bondlab-agent: cannot run {request['argv'][0]!r}: {error}\n".encode())
        return None
    finally:
        output.close()


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _child_exit_wakeup() -> int:
    """A pipe that becomes readable when a child exits (SIGCHLD through signal.set_wakeup_fd)."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a Python handler, so the wakeup fd is written
    return read_end


def _sleep(wakeup: int, seconds: float) -> None:
    """Up to `seconds`, less if a child exits meanwhile."""
    ready, _, _ = select.select([wakeup], [], [], seconds)
    if ready:
        try:
            while os.read(wakeup, 512):
                pass
        except BlockingIOError:
            pass


def serve(ctl: str) -> int:
    queue, jobs = os.path.join(ctl, "queue"), os.path.join(ctl, "jobs")
    running: dict = {}  # job id -> (Popen, deadline or None)
    wakeup = _child_exit_wakeup()
    _write_atomically(os.path.join(ctl, "ready"), f"{time.time()}\n")
    pause = POLL_FAST
    while True:
        names = sorted(os.listdir(queue))
        pause = POLL_FAST if names else min(POLL_IDLE, pause * 1.5)
        for name in names:
            path = os.path.join(queue, name)
            if name == "shutdown":
                for proc, _ in running.values():
                    _kill(proc)
                os.unlink(path)
                return 0
            job_id, _, kind = name.partition(".")
            if kind == "json":
                with open(path) as stream:
                    request = json.load(stream)
                os.unlink(path)
                _forget_host_files()
                proc = _start(ctl, job_id, request)
                if proc is None:
                    _write_atomically(os.path.join(jobs, job_id + ".rc"), "127\n")
                    continue
                timeout = request.get("timeout")
                running[job_id] = (proc, time.monotonic() + timeout if timeout else None)
            elif kind == "cancel":
                os.unlink(path)
                if job_id in running:
                    _kill(running[job_id][0])
        for job_id, (proc, deadline) in list(running.items()):
            if deadline is not None and time.monotonic() > deadline and proc.poll() is None:
                _kill(proc)
                code = 124
            else:
                code = proc.poll()
            if code is not None:
                proc.wait()
                _write_atomically(
                    os.path.join(jobs, job_id + ".rc"), f"{code if code >= 0 else 128 - code}\n"
                )
                del running[job_id]
        _sleep(wakeup, pause)


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1]))
