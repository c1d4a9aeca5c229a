"""pytest integration: tests that need a bonding kernel run on one, wherever pytest was started.

Tests marked `kernel` need a kernel that can bond; `netdevsim` ones also need netdevsim. If the
kernel pytest runs on can do it (a laptop, a full CI kernel, or inside the lab VM), they run in
place. If not, they run in pytest sessions inside lab VMs (a boot per VM, not per test), and each
result comes back and is reported here as if it had run here - so `pytest` on a machine whose kernel
cannot bond runs the real-kernel tests instead of skipping them.

UML guests run on one host CPU each, so with two CPUs two VMs share the tests (`--lab-vms`): every VM
is given all of them, and runs a test file only if it claims it first, so the VMs share the files out
as they go, whatever each file costs; a file stays in one VM (its module and session fixtures are set
up once).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

KERNEL_MARKS = ("kernel", "netdevsim")
REPORT_ENV = "BONDLAB_PYTEST_REPORT"
CLAIMS_ENV = "BONDLAB_PYTEST_CLAIMS"  # the directory where the VMs sharing the tests claim test files
STARTS_IN_S = 60.0  # how long a lab VM may take to appear before the next one is started anyway
# A UML guest can wedge with its timers stopped (seen once in CI: TIMER softirqs frozen for 20 minutes, every
# sleeper asleep for good, the kernel process spinning): no test reports any more. The slowest kernel test
# takes under a minute in CI; 300 s without a report is such a wedge, not a slow test.
STALL_S = 300.0


def pytest_addoption(parser):
    group = parser.getgroup("bondlab")
    group.addoption(
        "--engine", default=None, help="engine for kernel tests: auto, host, uml (BONDLAB_ENGINE)"
    )
    group.addoption("--vm-timeout", type=float, default=3000, help="time limit of the delegated session (s)")
    group.addoption(
        "--vm-stall",
        type=float,
        default=STALL_S,
        help="a lab VM that reports no test for this long is stopped and its unfinished tests run again in a "
        f"fresh one (s; default {STALL_S:g})",
    )
    group.addoption(
        "--lab-vms",
        type=int,
        default=int(os.environ.get("BONDLAB_LAB_VMS", "0")) or min(2, os.cpu_count() or 1),
        help="UML lab VMs that share the kernel tests, one per CPU (default: one per CPU, at most 2; "
        "BONDLAB_LAB_VMS)",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "kernel: needs a kernel that can bond (runs in the lab VM if need be)")
    config.addinivalue_line("markers", "netdevsim: needs a kernel with netdevsim (the project's lab kernel)")
    report_path = os.environ.get(REPORT_ENV)
    if report_path and os.environ.get("BONDLAB_IN_GUEST"):
        config.pluginmanager.register(GuestReporter(report_path), "bondlab-guest-reporter")
        if os.environ.get(CLAIMS_ENV):
            config.pluginmanager.register(SharedTests(os.environ[CLAIMS_ENV]), "bondlab-shared-tests")


def _needs_kernel(item) -> bool:
    return any(item.get_closest_marker(mark) for mark in KERNEL_MARKS)


@pytest.hookimpl(trylast=True)  # after -k/-m deselected: only what is selected runs in the VM
def pytest_collection_modifyitems(session, config, items):
    wanted = [item for item in items if _needs_kernel(item)]
    if not wanted:
        return
    from bondlab import capabilities

    caps = capabilities.probe()
    if caps.native or os.environ.get("BONDLAB_IN_GUEST"):
        for item in wanted:
            if item.get_closest_marker("netdevsim") and not caps.has("netdevsim"):
                item.add_marker(pytest.mark.skip(reason="no netdevsim kernel: " + caps.reason("netdevsim")))
            elif not caps.native:
                item.add_marker(
                    pytest.mark.skip(reason="this kernel cannot run the lab: " + caps.native.reason)
                )
        return
    config.pluginmanager.register(Delegate(config, wanted), "bondlab-delegate")


class GuestReporter:
    """Inside the VM: write every test report as JSON lines for the host to replay."""

    def __init__(self, path: str) -> None:
        self.path = path

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report):
        config = self._config
        data = config.hook.pytest_report_to_serializable(config=config, report=report)
        with open(self.path, "a") as stream:
            stream.write(json.dumps(data) + "\n")

    def pytest_configure(self, config):
        self._config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session):
        self._config = session.config


class SharedTests:
    """Inside one of the lab VMs given the same tests: run the test files this VM claims first (a file
    made with O_EXCL in the directory shared with the host). A VM that stops (-x) makes the others stop."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.stop = os.path.join(directory, "stop")

    def _claim(self, path) -> bool:
        name = hashlib.sha256(str(path).encode()).hexdigest()[:32]
        try:
            os.close(os.open(os.path.join(self.directory, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True

    def _mine(self, items):
        path, mine = None, False
        for item in items:
            if os.path.exists(self.stop):
                return
            if item.path != path:
                path, mine = item.path, self._claim(item.path)
            if mine:
                yield item

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        """pytest's own loop over the items this VM claims, each claimed one test ahead (`nextitem`)."""
        if session.testsfailed or session.config.option.collectonly:
            return None  # pytest's own loop says why or lists them
        mine = self._mine(session.items)
        item = next(mine, None)
        while item is not None:
            nextitem = next(mine, None)
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            if session.shouldfail or session.shouldstop:
                open(self.stop, "a").close()
                if session.shouldfail:
                    raise session.Failed(session.shouldfail)
                raise session.Interrupted(session.shouldstop)
            item = nextitem
        return True


def report_from_json(config, line: str):
    """A test report written by GuestReporter, as pytest made it in the guest.

    JSON has no tuples: a skip's (path, line, reason) comes back as a list, which pytest's own
    reporters (junitxml asserts a tuple) refuse, so it is made a tuple again."""
    report = config.hook.pytest_report_from_serializable(config=config, data=json.loads(line))
    if isinstance(report.longrepr, list):
        report.longrepr = tuple(report.longrepr)
    return report


class Delegate:
    """On a host that cannot bond: run the kernel tests in the lab VM once, then replay their reports."""

    def __init__(self, config, items) -> None:
        self.config = config
        self.items = {item.nodeid: item for item in items}
        self.reports: dict = {}
        self.failure = ""
        self.ran = False

    def _guest_argv(self, nodeids: list) -> list:
        options = self.config.option
        argv = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--no-header",
            "--tb=no",
            "-rN",
        ]
        if getattr(options, "maxfail", 0) == 1:
            argv.append("-x")
        # The guest's console is a terminal even when ours is a CI log: decide colour here.
        color = getattr(options, "color", "auto")
        if color == "auto":
            color = "yes" if sys.stdout.isatty() else "no"
        argv.append(f"--color={color}")
        return argv + nodeids

    def _sessions(self, engine, shared: str, count: int, nodeids: list, first: int = 1) -> list:
        """(argv, env) of each lab VM's session: `bondlab vm run` of the guest's pytest, its own process
        (Ctrl-C and SIGTERM end its VM as they end any `bondlab vm run`)."""
        vm_run = [sys.executable, "-m", "bondlab", "vm", "run", "--engine", engine.name, "--rw", shared]
        vm_run += ["--timeout", str(self.config.option.vm_timeout), "--", *self._guest_argv(nodeids)]
        env = dict(os.environ, **({CLAIMS_ENV: shared} if count > 1 else {}))
        numbers = range(first, first + count)
        return [
            (vm_run, dict(env, **{REPORT_ENV: report_path(shared, n)}), report_path(shared, n))
            for n in numbers
        ]

    def _run_guest_session(self) -> None:
        from bondlab import vm

        self.ran = True
        shared = tempfile.mkdtemp(prefix="bondlab-pytest-")
        try:
            engine = vm.select(self.config.option.engine)
            # Only UML guests are pinned one per CPU; the qemu engine's guest takes several CPUs itself.
            count = max(1, min(self.config.option.lab_vms, len(self.items))) if engine.name == "uml" else 1
            terminal = self.config.pluginmanager.get_plugin("terminalreporter")
            say = terminal.write_sep if terminal else (lambda sep, text: None)
            where = "the lab VM" if count == 1 else f"{count} lab VMs side by side"
            say("-", f"{len(self.items)} kernel tests run in {where}: {engine.describe()}")
            stall = self.config.option.vm_stall
            sessions = self._sessions(engine, shared, count, list(self.items))
            codes, stalled = run_side_by_side(sessions, str(self.config.rootpath), stall)
            say("-", f"lab VM session{'s' if count > 1 else ''} ended (exit {', '.join(map(str, codes))})")
            silent = self._replay(sessions, codes)
            unfinished = [nodeid for nodeid in self.items if not self._finished(nodeid)]
            if stalled and unfinished:
                for nodeid in unfinished:  # what a wedged VM began is run again from the start
                    self.reports.pop(nodeid, None)
                say(
                    "-",
                    f"lab VM {', '.join(map(str, stalled))} reported no test for {stall:g} s "
                    f"and was stopped; its {len(unfinished)} unfinished tests run again in a fresh lab VM",
                )
                again = self._sessions(engine, shared, 1, unfinished, first=count + 1)
                codes, stalled = run_side_by_side(again, str(self.config.rootpath), stall)
                silent += self._replay(again, codes)
                if stalled:
                    silent.append(f"the fresh lab VM also reported nothing for {stall:g} s")
            self.failure = "; ".join(silent)
        except Exception as error:  # the VM could not run: every delegated test fails with the reason
            self.failure = f"the lab VM could not run the kernel tests: {error}"
        finally:
            shutil.rmtree(shared, ignore_errors=True)

    def _replay(self, sessions: list, codes: list) -> list:
        """Read back each session's reports; why a session that reported nothing failed."""
        silent = []
        for (_argv, _env, path), code in zip(sessions, codes):
            reports = 0
            if os.path.exists(path):
                with open(path) as stream:
                    for line in stream:
                        report = report_from_json(self.config, line)
                        self.reports.setdefault(report.nodeid, []).append(report)
                        reports += 1
            if code not in (0, 1, 5) and not reports:
                silent.append(
                    f"the pytest session in {os.path.basename(path)} exited {code} without reporting"
                )
        return silent

    def _finished(self, nodeid: str) -> bool:
        return any(report.when == "teardown" for report in self.reports.get(nodeid, ()))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        if item.nodeid not in self.items:
            return None
        if not self.ran:
            self._run_guest_session()
        ihook = item.ihook
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        reports = self.reports.get(item.nodeid)
        if not reports:
            from _pytest.reports import TestReport

            reason = (
                self.failure or "the test did not run in the lab VM (the session there stopped before it)"
            )
            reports = [
                TestReport(item.nodeid, item.location, {}, "failed", reason, "setup", [], 0.0),
            ]
        for report in reports:
            ihook.pytest_runtest_logreport(report=report)
        ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True


def report_path(shared: str, n: int) -> str:
    return os.path.join(shared, f"reports-{n}.jsonl")


def run_side_by_side(sessions: list, cwd: str, stall_after: float = STALL_S) -> tuple:
    """Run the sessions' (argv, env, report file) at once and stream their output here, each line prefixed
    with its VM when there are several; (their exit codes, the numbers of those stopped because their report
    file did not grow for `stall_after` s). Each starts once the one before has its lab VM running (a VM
    takes the CPU with the fewest lab VMs when it starts: see bondlab.vm.uml)."""
    from bondlab.vm.engine import restore_signal, terminate_as_exception
    from bondlab.vm.uml import lab_vm_cpus

    procs, pending, streams = [], list(sessions), {}
    started, known = 0.0, set()
    progress: dict = {}  # session number -> (report file size, when it last grew)
    stalled: list = []

    def last_one_up() -> bool:
        """Whether the last session started has its VM running (or ended, or had its time)."""
        last = procs[-1]
        return (
            last.poll() is not None
            or bool(set(lab_vm_cpus()) - known)
            or time.monotonic() > started + STARTS_IN_S
        )

    previous = terminate_as_exception()  # SIGTERM here ends the sessions (below) as Ctrl-C does
    try:
        with selectors.DefaultSelector() as selector:
            while pending or selector.get_map():
                if pending and (not procs or last_one_up()):
                    argv, env, _path = pending.pop(0)
                    known, started = set(lab_vm_cpus()), time.monotonic()
                    proc = subprocess.Popen(
                        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
                    )
                    procs.append(proc)
                    prefix = f"[vm {len(procs)}] " if len(sessions) > 1 else ""
                    streams[proc.stdout.fileno()] = Prefixed(prefix)
                    selector.register(proc.stdout, selectors.EVENT_READ)
                for key, _ in selector.select(0.2):
                    chunk = os.read(key.fd, 65536)
                    streams[key.fd].write(chunk)
                    if not chunk:
                        selector.unregister(key.fileobj)
                for number, proc in enumerate(procs, start=1):
                    if proc.poll() is None and number not in stalled:
                        if _stalled(progress, number, sessions[number - 1][2], stall_after):
                            stalled.append(number)
                            proc.terminate()  # `bondlab vm run` ends its VM on SIGTERM
        return [proc.wait() for proc in procs], stalled
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()  # `bondlab vm run` ends its VM on SIGTERM
        for proc in procs:
            proc.wait()
            proc.stdout.close()
        restore_signal(previous)


def _stalled(progress: dict, number: int, path: str, stall_after: float) -> bool:
    """Whether session `number`'s report file has not grown for `stall_after` s (from its first look)."""
    try:
        size = os.path.getsize(path)
    except OSError:
        size = 0
    now = time.monotonic()
    last_size, since = progress.get(number, (-1, now))
    if size != last_size:
        progress[number] = (size, now)
        return False
    return now - since > stall_after


class Prefixed:
    """One session's output to our stdout: as it comes when alone, else whole lines under its prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.partial = ""

    def write(self, chunk: bytes) -> None:
        """`chunk` is b"" at the end of the stream."""
        text = self.decoder.decode(chunk, final=not chunk)
        if self.prefix:
            lines = (self.partial + text).split("\n")
            self.partial = "" if not chunk else lines.pop()
            text = "".join(f"{self.prefix}{line}\n" for line in lines if line or chunk)
        sys.stdout.write(text)
        sys.stdout.flush()


@pytest.fixture
def undo():
    """A LIFO undo stack that is unwound after the test, pass or fail."""
    from bondlab.util.undo import Undo

    stack = Undo()
    yield stack
    stack.run()
