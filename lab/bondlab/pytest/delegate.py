"""pytest integration: tests that need a bonding kernel run on one, wherever pytest was started.

Tests marked `kernel` need a kernel that can bond; `netdevsim` ones also need netdevsim. If the
kernel pytest runs on can do it (a laptop, a full CI kernel, or inside the lab VM), they run in
place. If not, all of them run together in one pytest session inside the lab VM (one boot, not one
per test), and each result comes back and is reported here as if it had run here - so `pytest`
on a machine whose kernel cannot bond runs the real-kernel tests instead of skipping them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

import pytest

KERNEL_MARKS = ("kernel", "netdevsim")
REPORT_ENV = "BONDLAB_PYTEST_REPORT"


def pytest_addoption(parser):
    group = parser.getgroup("bondlab")
    group.addoption(
        "--engine", default=None, help="engine for kernel tests: auto, host, uml (BONDLAB_ENGINE)"
    )
    group.addoption("--vm-timeout", type=float, default=3000, help="time limit of the delegated session (s)")


def pytest_configure(config):
    config.addinivalue_line("markers", "kernel: needs a kernel that can bond (runs in the lab VM if need be)")
    config.addinivalue_line("markers", "netdevsim: needs a kernel with netdevsim (the project's lab kernel)")
    report_path = os.environ.get(REPORT_ENV)
    if report_path and os.environ.get("BONDLAB_IN_GUEST"):
        config.pluginmanager.register(GuestReporter(report_path), "bondlab-guest-reporter")


def _needs_kernel(item) -> bool:
    return any(item.get_closest_marker(mark) for mark in KERNEL_MARKS)


@pytest.hookimpl(trylast=True)  # after -k/-m deselected: the VM runs only the tests selected
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

    def _guest_argv(self, report_path: str) -> list:
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
        return argv + list(self.items)

    def _run_guest_session(self) -> None:
        from bondlab import vm
        from bondlab.cli.forward import forward

        self.ran = True
        shared = tempfile.mkdtemp(prefix="bondlab-pytest-")
        try:
            report_path = os.path.join(shared, "reports.jsonl")
            engine = vm.select(self.config.option.engine)
            terminal = self.config.pluginmanager.get_plugin("terminalreporter")
            if terminal:
                terminal.write_sep(
                    "-", f"{len(self.items)} kernel tests run in the lab VM: {engine.describe()}"
                )
            env = dict(os.environ, **{REPORT_ENV: report_path})
            code = forward(
                vm.Job(
                    argv=self._guest_argv(report_path),
                    cwd=str(self.config.rootpath),
                    timeout=self.config.option.vm_timeout,
                    rw_dirs=[shared],
                    env=env,
                ),
                engine,
            )
            if terminal:
                terminal.write_line("")
                terminal.write_sep("-", f"lab VM session ended (exit {code})")
            if os.path.exists(report_path):
                with open(report_path) as stream:
                    for line in stream:
                        report = report_from_json(self.config, line)
                        self.reports.setdefault(report.nodeid, []).append(report)
            if code not in (0, 1, 5) and not self.reports:
                self.failure = f"the pytest session in the lab VM exited {code} without reporting"
        except Exception as error:  # the VM could not run: every delegated test fails with the reason
            self.failure = f"the lab VM could not run the kernel tests: {error}"
        finally:
            shutil.rmtree(shared, ignore_errors=True)

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


@pytest.fixture
def undo():
    """A LIFO undo stack that is unwound after the test, pass or fail."""
    from bondlab.util.undo import Undo

    stack = Undo()
    yield stack
    stack.run()
