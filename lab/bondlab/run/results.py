"""What a scenario run leaves: one record per step, and the scenario's result for the reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class StepResult:
    index: int
    kind: str
    text: str
    where: str
    t: int = 0  # ns, when the step started
    ok: Optional[bool] = None  # None: an action (no verdict)
    message: str = ""
    action: int = -1  # index of the action whose window a traffic expectation judges
    done_at: int = 0  # ns, when the action's first link change was sent (cuts, restores)


@dataclass
class ScenarioResult:
    path: str
    name: str
    plugin: str = ""
    description: str = ""
    status: str = "error"  # passed, failed, xfailed, xpassed, error
    message: str = ""
    expect_failure: Optional[str] = None
    seconds: float = 0.0
    steps: list = field(default_factory=list)
    windows: list = field(default_factory=list)  # rows: {step, action, flow, from, to, sent, delivered, ...}
    connectivity: list = field(default_factory=list)  # rows: {from, to, connected, total}
    failovers: list = field(default_factory=list)  # rows: {action, pod, garp_ms, event_ms} after link changes
    retried: list = field(default_factory=list)  # messages of attempts dropped for measurement errors
    timeline: dict = field(default_factory=dict)  # for the SVG: flows, probes, actions
    capture: str = ""  # file name of the run's pcapng in the report directory ("" when none was written)
    started: int = 0
    stopped: int = 0
    kept: str = ""  # the name of the lab left deployed after a failure (`bondlab run --keep`)

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "xfailed")

    def as_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "timeline"}
        out["steps"] = [s.__dict__ for s in self.steps]
        return out
