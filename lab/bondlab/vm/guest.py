"""What every VM engine shares: staging the guest, booting it, streaming its console, ending it.

Layout of one run: a private control directory on the host holds the guest's init script
(guest-init.sh), its environment and the job script; the guest mounts the host root read-only,
tmpfs on /tmp, /run, /var/..., an overlay over the job's working directory (writes there are
thrown away), and read-write mounts of the control directory and the job's shared directories
(hostfs in UML, 9p in qemu). The console is a pipe: the job's output is streamed between two
marks carrying a per-run nonce, and the exit code comes back through the control directory. The
VM runs in its own process group, which is killed and waited for on every way out (end, timeout,
Ctrl-C, SIGTERM, panic).
"""

from __future__ import annotations

import os
import secrets
import selectors
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from bondlab.util import procs
from bondlab.vm import kernels
from bondlab.vm.engine import (
    Engine,
    GuestKernel,
    Job,
    VmError,
    VmTimeout,
    job_env,
    kill_group,
    restore_signal,
    terminate_as_exception,
)

INIT = Path(__file__).with_name("guest-init.sh")
DEFAULT_MEM = "2G"
# How long a guest may take from exec to the start of the job before it counts as hung.
BOOT_TIMEOUT = float(os.environ.get("BONDLAB_BOOT_TIMEOUT", "120"))


def guest_mem() -> str:
    return os.environ.get("BONDLAB_VM_MEM", DEFAULT_MEM)


def kept_paths(job: Job, modules_dir=None) -> list:
    """Host paths the guest needs to see even under its scratch tmpfs: the job's working directory,
    its Python installation (a venv, and the interpreter it points at), its PYTHONPATH, and the
    kernel's module tree."""
    env = os.environ if job.env is None else job.env
    paths = [job.cwd, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))]
    if modules_dir:
        paths.append(str(modules_dir))
    paths += [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    argv0 = job.argv[0] if job.argv else ""
    if os.path.isabs(argv0):
        paths.append(os.path.dirname(os.path.realpath(argv0)))
    return sorted({os.path.realpath(p) for p in paths if " " not in p})


def guest_env_file(values: dict) -> str:
    return "".join(f"{key}={shlex.quote(str(value))}\n" for key, value in values.items())


def job_script(argv: list, env: dict) -> str:
    lines = ["#!/bin/sh"]
    lines += [
        f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items()) if key.isidentifier()
    ]
    lines.append("exec " + " ".join(shlex.quote(arg) for arg in argv) + " 2>&1")
    return "\n".join(lines) + "\n"


@dataclass
class Console:
    """Splits the guest console into boot noise, the job's output (streamed) and what follows it."""

    begin: bytes
    end: bytes
    out: object
    phase: str = "boot"
    pending: bytes = b""
    log: list = field(default_factory=list)  # everything, for diagnosing a guest that died
    begun_at: float = 0.0

    def feed(self, chunk: bytes) -> None:
        self.log.append(chunk)
        self.pending += chunk
        if self.phase == "boot":
            at = self.pending.find(self.begin)
            newline = self.pending.find(b"\n", at)
            if at < 0 or newline < 0:
                return
            self.pending = self.pending[newline + 1 :]
            self.phase, self.begun_at = "job", time.monotonic()
        if self.phase == "job":
            at = self.pending.find(self.end)
            if at >= 0:
                self._emit(self.pending[:at])
                self.pending, self.phase = b"", "done"
                return
            # Hold back what could be the start of the end mark.
            keep = len(self.end) - 1
            self._emit(self.pending[:-keep] if len(self.pending) > keep else b"")
            self.pending = self.pending[-keep:] if len(self.pending) > keep else self.pending

    def _emit(self, data: bytes) -> None:
        if data:
            text = data.replace(b"\r\n", b"\n").decode("utf-8", "replace")
            self.out.write(text)
            self.out.flush()

    def text(self) -> str:
        return b"".join(self.log).decode("utf-8", "replace")

    def diagnose(self) -> str:
        text = self.text()
        for needle, meaning in (
            (
                "ptrace set fp regs failed",
                "the UML kernel cannot save this CPU's FP state: " + kernels.debian_kernel_problem(),
            ),
            ("Kernel panic", "the guest kernel panicked"),
            ("Out of memory", "the guest ran out of memory (BONDLAB_VM_MEM)"),
        ):
            for line in text.splitlines():
                if needle in line:
                    return f"{meaning}: {line.strip()}"
        tail = "\n    ".join(text.strip().splitlines()[-15:])
        return f"the guest stopped without reporting an exit code; last console lines:\n    {tail}"


CTL_PREFIX = "bondlab-vm-"
RUNNER_FILE = "runner"  # "PID STARTTIME" of the host process that made the directory and owns its VM


def claim_ctl_dir(ctl: Path) -> None:
    (ctl / RUNNER_FILE).write_text(f"{os.getpid()} {procs.start_time(os.getpid())}\n")


def _runner_alive(path: str) -> Optional[bool]:
    """True/False for a directory that names its runner, None for one that does not (yet)."""
    try:
        pid, started = Path(path, RUNNER_FILE).read_text().split()
    except (OSError, ValueError):
        return None
    return procs.start_time(int(pid)) == started


def _naming(paths: list) -> dict:
    """path -> pids of the processes whose command line names it (a live VM names its directory)."""
    found: dict = {path: [] for path in paths}
    for pid, args in procs.command_lines():
        words = " ".join(args)
        for path in paths:
            if path in words:
                found[path].append(pid)
    return found


def sweep_stale_ctl_dirs(min_age: float = 600.0) -> list:
    """Remove what a runner killed with SIGKILL could not: its control directory (`$TMPDIR/bondlab-vm-*`,
    marked by the files staged in it) and the VM still running on it. A directory whose runner is gone goes
    at once, with every process group that names it (the VM; it runs in its own session); one that names
    no runner goes once it is `min_age` seconds old and no process names it. Returns the directories."""
    root = tempfile.gettempdir()
    candidates = []
    for name in os.listdir(root):
        if not name.startswith(CTL_PREFIX):  # before any stat: $TMPDIR may hold many other entries
            continue
        path = os.path.join(root, name)
        try:
            if not any(os.path.isfile(os.path.join(path, mark)) for mark in ("guest.env", RUNNER_FILE)):
                continue
            alive = _runner_alive(path)
            if alive is False or (alive is None and time.time() - os.stat(path).st_mtime >= min_age):
                candidates.append((path, alive is False))
        except OSError:
            continue
    if not candidates:
        return []
    naming = _naming([path for path, _ in candidates])
    stale = []
    for path, orphaned in candidates:
        if naming[path] and not orphaned:
            continue
        for pid in naming[path]:
            try:
                group = os.getpgid(pid)
                if group > 1 and group != os.getpgrp():  # a VM is a session of its own, never ours
                    kill_group(group)
            except (ProcessLookupError, VmError):
                pass
        shutil.rmtree(path, ignore_errors=True)
        stale.append(path)
    return stale


class GuestEngine(Engine):
    """An engine that boots a guest kernel per run (or per `vm up`); subclasses say how to boot it."""

    shared_fs = "?"  # how the guest mounts host directories read-write: hostfs or 9p
    boot_timeout = BOOT_TIMEOUT
    product = "?"

    def __init__(self, kernel: Optional[GuestKernel] = None) -> None:
        self.chosen_kernel = kernel  # None: the engine's own choice (kernel())

    def kernel(self) -> GuestKernel:
        """The kernel this engine boots: the one it was given, else its default."""
        return self.chosen_kernel or self.default_kernel()

    def default_kernel(self) -> GuestKernel:
        raise NotImplementedError

    def boot_argv(self, kernel: GuestKernel, ctl: Path, shares: list) -> list:
        """The host command that boots the guest with `init.sh` of `ctl` as PID 1."""
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.product}, {self.kernel().describe()}"

    def stage(self, ctl: Path, job: Job, argv: list, begin: str, end: str) -> list:
        """Write the guest's init, environment and job script into `ctl`; return the kernel's argv."""
        try:
            kernel = self.kernel()
        except kernels.KernelError as error:
            raise VmError(str(error)) from None
        rw_dirs = [os.path.realpath(d) for d in job.rw_dirs]
        for directory in rw_dirs:
            os.makedirs(directory, exist_ok=True)
        shares = [(f"bl{index}", path) for index, path in enumerate([str(ctl), *rw_dirs])]
        shutil.copy(INIT, ctl / "init.sh")
        (ctl / "init.sh").chmod(0o755)
        guest = {
            "BONDLAB_CWD": os.path.realpath(job.cwd),
            "BONDLAB_KEEP": " ".join(kept_paths(job, kernel.modules_dir)),
            "BONDLAB_SHARED_FS": self.shared_fs,
            # Each share: a tag (what qemu's 9p calls it) and the path it is mounted on.
            "BONDLAB_SHARES": " ".join(f"{tag}={path}" for tag, path in shares),
            "BONDLAB_BEGIN_MARK": begin,
            "BONDLAB_END_MARK": end,
            "BONDLAB_PRINTK": "7 4 1 7" if os.environ.get("BONDLAB_VM_VERBOSE") else "1 4 1 1",
            "BONDLAB_MODULES_DIR": str(kernel.modules_dir or ""),
            "BONDLAB_MODULES": " ".join(kernels.LAB_MODULES) if kernel.modules_dir else "",
        }
        (ctl / "guest.env").write_text(guest_env_file(guest))
        env = job_env(
            job,
            BONDLAB_IN_GUEST=self.name,
            BONDLAB_ENGINE="host",
            XDG_CACHE_HOME="/tmp/.cache",
            TMPDIR="/tmp",
        )
        (ctl / "job.sh").write_text(job_script(argv, env))
        (ctl / "job.sh").chmod(0o755)
        return self.boot_argv(kernel, ctl, shares)

    def run(self, job: Job) -> int:
        out = job.out or sys.stdout
        previous = terminate_as_exception()
        with ExitStack() as undo:
            undo.callback(restore_signal, previous)
            sweep_stale_ctl_dirs()
            ctl = Path(tempfile.mkdtemp(prefix=CTL_PREFIX))
            undo.callback(shutil.rmtree, ctl, True)
            claim_ctl_dir(ctl)
            nonce = secrets.token_hex(8)
            begin, end = f"=== bondlab job {nonce} begins ===", f"=== bondlab job {nonce} ends ==="
            argv = self.stage(ctl, job, list(job.argv), begin, end)
            started = time.monotonic()
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as error:
                raise VmError(f"cannot start {argv[0]}: {error}") from None
            undo.callback(kill_group, proc.pid, proc)
            console = Console(begin.encode(), end.encode(), out)
            self._pump(proc, console, job.timeout, started)
            code_file = ctl / "exitcode"
            if not code_file.exists():
                raise VmError(console.diagnose())
            self.last_boot_seconds = console.begun_at - started
            return int(code_file.read_text().strip())

    def _pump(self, proc: subprocess.Popen, console: Console, timeout, started: float) -> None:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                now = time.monotonic()
                if console.phase == "boot":
                    if now > started + self.boot_timeout:
                        raise VmError(
                            f"the guest did not start the job within {self.boot_timeout:g} s; it was killed"
                        )
                elif timeout is not None and now > console.begun_at + timeout:
                    raise VmTimeout(f"the job did not finish within {timeout:g} s; the VM was killed")
                if not selector.select(0.2):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                console.feed(chunk)
        proc.wait()
