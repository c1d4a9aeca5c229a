"""Run one scenario file: check it, deploy its lab, start the probes, play the timeline, stop, judge, tear
down; again (run.verdicts.RETRY) when its only failures were measurement errors."""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Optional

from bondlab import deploy
from bondlab.cni import libcni
from bondlab.model import scenario as scenarios
from bondlab.model.scenario import Scenario
from bondlab.model.yamlsrc import SourceError
from bondlab.run import capture as pcapng
from bondlab.run import traffic
from bondlab.run.results import ScenarioResult, StepResult
from bondlab.run.steps import ACTIONS
from bondlab.run.timeline import Timeline, ms_after
from bondlab.run.verdicts import RETRY
from bondlab.world.labstate import LabError
from bondlab.world.netns import CommandError


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


def run_scenario(
    path: str,
    plugin: Optional[str] = None,
    progress: Callable = lambda text: None,
    capture: Capture = Capture(),
) -> ScenarioResult:
    """Run one scenario file; bad input and lab errors become status 'error' with one clear message."""
    began = time.monotonic()
    result = ScenarioResult(path=path, name=os.path.basename(path), plugin=plugin or deploy.default_plugin())
    try:
        scen = scenarios.load(path)
        result.name, result.description, result.expect_failure = (
            scen.name,
            scen.description,
            scen.expect_failure,
        )
        for attempt in range(1, RETRY.attempts + 1):
            failures = _run(scen, result, plugin, progress, capture)
            if not RETRY.wanted(failures) or attempt == RETRY.attempts:
                break
            progress(f"attempt {attempt}: measurement error only; running again")
            result.retried.append(result.message)
            result.steps, result.windows, result.connectivity, result.failovers = [], [], [], []
            result.capture = ""
    except (SourceError, LabError, traffic.TrafficError, CommandError, libcni.CniError) as error:
        result.status, result.message = "error", str(error)
    result.seconds = round(time.monotonic() - began, 2)
    if result.status in ("failed", "passed") and result.expect_failure:
        result.status = "xfailed" if result.status == "failed" else "xpassed"
        if result.status == "xpassed":
            result.message = f"expected to fail ({result.expect_failure}) but every expectation held"
    return result


def _run(
    scen: Scenario, result: ScenarioResult, plugin: Optional[str], progress: Callable, capture: Capture
) -> list:
    """One attempt; returns its failures (run.verdicts.Failure, or teardown messages)."""
    prepared = deploy.prepare(scen.documents, backend=scen.backend)
    scenarios.check_names(scen, prepared)
    name = f"sc-{secrets.token_hex(3)}"
    if scen.deploy_fails is not None:
        _deploy_must_fail(scen, prepared, name, plugin, result)
        return []
    progress("deploying the lab")
    state = deploy.deploy(prepared, name=name, plugin=plugin, progress=progress)
    tl = Timeline(state, progress)
    failures: list = []
    try:
        tl.open_sockets()
        with tempfile.TemporaryDirectory(prefix="bondlab-traffic-") as workdir:
            tl.start_traffic(scen.flows, scen.rate, workdir, capture=capture.keeps)
            total = len(scen.steps)
            for step in scen.steps:
                sr = StepResult(step.index, step.kind, step.describe(), step.where, t=time.time_ns())
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
    finally:
        tl.close()
        errors = deploy.destroy(state)
        if errors:
            failures.append("teardown: " + "; ".join(errors))
    result.connectivity = tl.connectivity
    result.status = "failed" if failures else "passed"
    result.message = "\n".join(str(f) for f in failures)
    return failures


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
    marks = [(-1, "start")] + [(i, a.text) for i, a in enumerate(tl.actions)]
    for flow in tl.flows:
        for index, text in marks:
            w = tl.window_of(flow, index)
            result.windows.append(
                {"action": text, "flow": flow.name, "from": flow.src, "to": flow.dst, **w.as_dict()}
            )
    probes = {}
    for flow in tl.flows:
        carriers = tr.carriers(flow)
        got = {seq for seq, _s, _r in tr.received(flow)}
        probes[flow.name] = [
            [ms_after(t, tr.started), carriers.get(seq, "?") if seq in got else None]
            for seq, t in enumerate(tr.sent(flow))
        ]
    result.failovers = tl.failovers()
    result.timeline = {
        "flows": [f.name for f in tl.flows],
        "probes": probes,
        "actions": [  # [ms the step started, its text, ms its first link change was sent or None]
            [ms_after(a.t, tr.started), a.text, ms_after(a.done_at, tr.started)] for a in tl.actions
        ],
        "events": tl.kernel_events(),
        "end_ms": ms_after(tr.stopped, tr.started),
    }
