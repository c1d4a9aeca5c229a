"""The test suite in tiers (README, "Tests in tiers"): `--tier fast` runs the pure-logic tests only, and every
tier ends with one line saying what it ran and how long it took.

A test leaves the fast tier by its marker: `kernel`/`netdevsim` (bondlab.pytest.delegate declares them), and
the three below. So that a new slow test cannot slip in unmarked, the fast tier watches what each test execs
(a Python audit hook: this process's own execs, not its children's) and fails a test that execs what one of
those markers stands for, naming the marker; its closing line lists the slowest tests when the tier runs
over its budget.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

# marker -> what it stands for; with kernel and netdevsim, what keeps a test out of the fast tier
MARKERS = {
    "vm": "drives the lab VM itself from the host (boots a UML or qemu guest)",
    "build": "builds bin/bond, its bundle or a wheel, or installs one into a venv",
    "browser": "drives a web browser (Debian's chromium and chromedriver)",
}
SLOW_MARKS = ("kernel", "netdevsim", *MARKERS)
FAST_BUDGET_S = 60.0  # this machine kind: 2 cores
SLOWEST_SHOWN = 8


def _module(argv: list) -> str:
    return argv[argv.index("-m") + 1] if "-m" in argv[:-1] else ""


def _exec_marker(argv: list) -> str:
    """The marker a test that execs `argv` needs, or ""."""
    program = os.path.basename(str(argv[0])) if argv else ""
    module = _module([str(arg) for arg in argv])
    if program in ("taskset", "linux", "vmlinux") or program.startswith("qemu-system"):
        return "vm"
    if "chrom" in program or program in ("firefox", "geckodriver"):
        return "browser"
    if program in ("bond", "pip", "pip3", "nuitka", "nuitka3") or module in ("pip", "venv", "nuitka"):
        return "build"
    if module.startswith("bondcni_build"):  # the build tooling: bondcni_build.bond, .standalone
        return "build"
    return ""


def pytest_addoption(parser):
    parser.getgroup("tiers").addoption(
        "--tier",
        choices=("fast", "full"),
        default=None,
        help="fast: pure-logic tests only (no build, browser, root or VM), guarded; full: every test (the "
        "default selection, named so that the closing line says it)",
    )


def pytest_configure(config):
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning} (not in the fast tier)")
    tier = config.getoption("tier")
    if tier:
        config.pluginmanager.register(Tier(tier), "tests-tier")


def process_age_s() -> float:
    """Seconds since this process started (its imports count toward a tier's time), 0 if unknown."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            return float(uptime.read().split()[0]) - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class Tier:
    def __init__(self, name: str) -> None:
        self.name = name
        self.began = time.monotonic() - process_age_s()
        self.current = None
        self.broken: dict = {}  # nodeid -> what it exec'd that the fast tier does not allow
        if name == "fast":
            sys.addaudithook(self._audit)  # cannot be removed: it checks only while a test runs

    def _audit(self, event, args):
        if self.current is None or event not in ("subprocess.Popen", "os.exec", "os.posix_spawn"):
            return
        argv = args[1] or [args[0]]
        if isinstance(argv, (str, bytes)):  # shell=True
            argv = os.fsdecode(argv).split()
        argv = [os.fsdecode(arg) for arg in argv]
        marker = _exec_marker(argv)
        if marker:
            why = f"execs `{' '.join(argv)[:160]}`: it {MARKERS[marker]}; mark it @pytest.mark.{marker}"
            self.broken.setdefault(self.current, why)
            raise RuntimeError("the fast tier runs pure logic only: this test " + why)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        if self.name != "fast":
            return
        fast, slow = [], []
        for item in items:
            (slow if any(item.get_closest_marker(mark) for mark in SLOW_MARKS) else fast).append(item)
        if slow:
            config.hook.pytest_deselected(items=slow)
            items[:] = fast

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.current = item.nodeid
        yield
        self.current = None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        why = self.broken.get(item.nodeid)
        if why and (report.failed or report.when == "call"):  # failed even if the test caught the error
            report.outcome = "failed"
            report.longrepr = "the fast tier runs pure logic only: this test " + why

    @pytest.hookimpl(trylast=True)  # after pytest's own closing line, with every plugin's summary done
    def pytest_unconfigure(self, config):
        terminalreporter = config.pluginmanager.get_plugin("terminalreporter")
        if terminalreporter is None:
            return
        seconds = time.monotonic() - self.began
        counts = ", ".join(
            f"{len(terminalreporter.stats[key])} {key}"
            for key in ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
            if terminalreporter.stats.get(key)
        )
        if self.name == "fast" and seconds > FAST_BUDGET_S:
            durations = {}
            for reports in terminalreporter.stats.values():
                for report in reports:
                    if getattr(report, "when", None) and getattr(report, "nodeid", ""):
                        durations[report.nodeid] = durations.get(report.nodeid, 0.0) + report.duration
            slowest = sorted(durations.items(), key=lambda kv: -kv[1])[:SLOWEST_SHOWN]
            terminalreporter.write_sep("-", f"over the fast tier's {FAST_BUDGET_S:.0f} s: its slowest tests")
            for nodeid, spent in slowest:
                terminalreporter.write_line(f"{spent:6.1f} s  {nodeid}")
        terminalreporter.write_line(f"{self.name} tier: {counts or 'no tests'} in {seconds:.1f} s")
