"""Run one scenario (a model.scenario.Scenario, loaded once by the caller): check its names against its
lab, deploy the lab, start the probes, play the timeline, stop, judge, tear down (or keep a failed
scenario's lab, `keep`); again (run.verdicts.RETRY) when its only failures were
measurement errors. A time limit (`timeout`) ends the deploy and the timeline, never the teardown."""

from __future__ import annotations

import os
import secrets
import signal
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Optional

from bondlab import capabilities, deploy
from bondlab.cni import libcni
from bondlab.model.scenario import Scenario, check_names
from bondlab.model.steps import ACTIONS
from bondlab.model.yamlsrc import SourceError
from bondlab.run.results import ScenarioResult, StepResult, WindowRow
from bondlab.run.timeline import Timeline, ms_after
from bondlab.run.verdicts import RETRY
from bondlab.traffic import pcapng
from bondlab.traffic.probes import TrafficError
from bondlab.world.labstate import LabError, LabState
from bondlab.world.netns import CommandError


class ScenarioTimeout(Exception):
    """The scenario ran past its time limit."""


@contextmanager
def time_limit(seconds: float):
    """Raise ScenarioTimeout in the block once `seconds` have passed (0: no limit); main thread only."""
    if not seconds:
        yield
        return

    def expire(signum, frame):
        raise ScenarioTimeout(f"the scenario did not finish within {seconds:g} s (--timeout); it was stopped")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass(frozen=True)
class Capture:
    """Which runs leave a pcapng (`bondlab run --capture`): "all", "failed" (a run whose outcome is not the
    one the file expects) or "none"; written as DIRECTORY/<scenario><suffix>.pcapng."""

    policy: str = "none"
    directory: str = ""
    suffix: str = ""  # tells repeated runs and plugins apart

    @property
    def keeps(self) -> bool:
        return self.policy != "none" and bool(self.directory)

    def wanted(self, failed: bool) -> bool:
        return self.keeps and (self.policy == "all" or failed)


def unloadable(path: str, error: SourceError, plugin: Optional[str] = None) -> ScenarioResult:
    """The result of a scenario file that did not load: status 'error', the loader's message."""
    return ScenarioResult(
        path=path,
        name=os.path.basename(path),
        plugin=plugin or deploy.default_plugin(),
        message=str(error),
    )


def run_scenario(
    scen: Scenario,
    plugin: Optional[str] = None,
    progress: Callable = lambda text: None,
    keep: bool = False,
    timeout: float = 0,
    capture: Capture = Capture(),
) -> ScenarioResult:
    """Run one scenario; bad input and lab errors become status 'error' with one clear message, a kernel
    without what spec.requires names 'skipped' with the reason (before anything is made).
    `keep`: a scenario that does not pass leaves its lab deployed (result.kept names it)."""
    began = time.monotonic()
    result = ScenarioResult(
        path=scen.path,
        name=scen.name,
        plugin=plugin or deploy.default_plugin(),
        description=scen.description,
        expect_failure=scen.expect_failure,
    )
    unmet = scen.requires.unmet(capabilities.probe()) if scen.requires else ""
    if unmet:  # nothing is deployed on a kernel the scenario does not apply to
        result.status, result.message = "skipped", f"{scen.requires.where}: {unmet}"
        return result
    try:
        for attempt in range(1, RETRY.attempts + 1):
            failures = _run(scen, result, plugin, progress, keep, timeout, capture)
            if not RETRY.wanted(failures):
                break
            if attempt == RETRY.attempts:
                # Not a verdict on the bond: the lab could not measure (under TCG, a loaded machine, ...).
                result.status = "error"
                result.message = (
                    f"measurement error on each of {attempt} attempts, no verdict:\n{result.message}"
                )
                break
            if result.kept:  # only the last attempt's lab is kept
                deploy.destroy(LabState.load(result.kept))
                result.kept = ""
            progress(f"attempt {attempt}: measurement error only; running again")
            result.retried.append(result.message)
            result.steps, result.windows, result.connectivity, result.failovers = [], [], [], []
            result.capture = ""
    except (
        SourceError,
        LabError,
        TrafficError,
        CommandError,
        libcni.CniError,
        ScenarioTimeout,
    ) as error:
        result.status, result.message = "error", str(error)
    result.seconds = round(time.monotonic() - began, 2)
    if result.status in ("failed", "passed") and result.expect_failure:
        result.status = "xfailed" if result.status == "failed" else "xpassed"
        if result.status == "xpassed":
            result.message = f"expected to fail ({result.expect_failure}) but every expectation held"
    return result


def _run(
    scen: Scenario,
    result: ScenarioResult,
    plugin: Optional[str],
    progress: Callable,
    keep: bool = False,
    timeout: float = 0,
    capture: Capture = Capture(),
) -> list:
    """One attempt; returns its failures (run.verdicts.Failure, or teardown messages)."""
    prepared = deploy.prepare(scen.documents, backend=scen.backend)
    check_names(scen, prepared)
    result.fabric = prepared.topology.cabling()
    name = f"sc-{secrets.token_hex(3)}"
    if scen.deploy_fails is not None:
        with time_limit(timeout):
            _deploy_must_fail(scen, prepared, name, plugin, result)
        return []
    state, tl, broke = None, None, False
    failures: list = []
    try:
        with time_limit(timeout):
            progress("deploying the lab")
            state = deploy.deploy(prepared, name=name, plugin=plugin, progress=progress)
            tl = Timeline(state, progress)
            _play(scen, tl, result, failures, progress, capture)
    except Exception:
        broke = True
        raise
    finally:
        if tl:
            tl.close()
        if state is not None and keep and (broke or failures):
            result.kept = state.name
        elif state is not None:
            errors = deploy.destroy(state)
            if errors:
                failures.append("teardown: " + "; ".join(errors))
    result.connectivity = tl.connectivity
    result.status = "failed" if failures else "passed"
    result.message = "\n".join(str(f) for f in failures)
    return failures


def _play(
    scen: Scenario, tl: Timeline, result: ScenarioResult, failures: list, progress: Callable, capture: Capture
) -> None:
    tl.open_sockets()
    with tempfile.TemporaryDirectory(prefix="bondlab-traffic-") as workdir:
        tl.start_traffic(scen.flows, scen.rate, workdir, capture=capture.keeps)
        total = len(scen.steps)
        for step in scen.steps:
            sr = StepResult.started(step)
            result.steps.append(sr)
            tl.play(step, sr, failures)
            if step.is_action:
                progress(f"[{step.index + 1}/{total}] {sr.text}")
                continue
            verdict = "ok" if sr.ok is not False else "FAILED"
            progress(f"[{step.index + 1}/{total}] {sr.text}: {verdict} {sr.message}")
        if tl.traffic:
            tl.stop_traffic(failures)
            _figures(tl, result)
            if capture.wanted(bool(failures) != bool(scen.expect_failure)):
                _write_capture(tl, result, capture, progress)


def _deploy_must_fail(
    scen: Scenario, prepared, name: str, plugin: Optional[str], result: ScenarioResult
) -> None:
    try:
        state = deploy.deploy(prepared, name=name, plugin=plugin)
    except LabError as error:
        match = scen.deploy_fails.get("match", "")
        if match.lower() in str(error).lower():
            result.status, result.message = "passed", f"deploy failed as expected: {error}"
        else:
            result.status, result.message = "failed", f"deploy failed without {match!r}: {error}"
        return
    deploy.destroy(state)
    result.status, result.message = "failed", "deploy succeeded; the scenario expects it to fail"


def _write_capture(tl: Timeline, result: ScenarioResult, capture: Capture, progress: Callable) -> None:
    """The run's pcapng, a comment at each action (action_marks)."""
    name = f"{result.name}{capture.suffix}.pcapng"
    os.makedirs(capture.directory, exist_ok=True)
    count = pcapng.write(
        os.path.join(capture.directory, name), tl.traffic.frames(), action_marks(result.steps)
    )
    result.capture = name
    progress(f"capture: {count} frames in {name}")


def action_marks(steps: list) -> list:
    """[(ns, text)]: each action step's start, and when it sent its first link change."""
    marks = []
    for sr in steps:
        if sr.kind in ACTIONS:
            line = sr.where.rsplit(":", 1)[-1]
            marks.append((sr.t, f"step {sr.index + 1} (line {line}): {sr.text}"))
            if sr.done_at:
                marks.append((sr.done_at, f"step {sr.index + 1}: first link change sent"))
    return marks


def _figures(tl: Timeline, result: ScenarioResult) -> None:
    """Per action and flow: the step's window; and the timeline picture's data."""
    tr = tl.traffic
    result.started, result.stopped = tr.started, tr.stopped
    marks = [(-1, "start", False)] + [(i, a.text, a.failure) for i, a in enumerate(tl.actions)]
    for flow in tl.flows:
        for index, text, failure in marks:
            window = tl.window_of(flow, index)
            result.windows.append(WindowRow(text, flow.name, flow.src, flow.dst, window, failure))
    probes, bands = {}, []  # a band per flow; a pod-to-pod flow has one per end (the pod each lane is)
    for flow in tl.flows:
        got = {seq for seq, _s, _r in tr.received(flow)}
        arrived = tr.arrivals(flow)
        ends = [(flow.name, tr.carriers(flow))] + ([(f"{flow.name}: arrived on", arrived)] if arrived else [])
        for band, slave_of in ends:
            probes[band] = [
                [ms_after(t, tr.started), slave_of.get(seq, "?") if seq in got else None]
                for seq, t in enumerate(tr.sent(flow))
            ]
            bands.append(band)
    result.failovers = tl.failovers()
    result.timeline = {
        "flows": bands,
        "probes": probes,
        "actions": [  # [ms the step started, its text, ms its first link change was sent or None]
            [ms_after(a.t, tr.started), a.text, ms_after(a.done_at, tr.started)] for a in tl.actions
        ],
        "events": tl.kernel_events(),
        "end_ms": ms_after(tr.stopped, tr.started),
    }
