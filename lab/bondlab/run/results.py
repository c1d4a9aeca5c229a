"""What a scenario run leaves: one record per step, the rows of its figures (each written once, frozen),
and the scenario's result for the reports; as_dict() is the results.json shape."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from bondlab.capabilities import kernel_label


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
    failure: bool = False  # an action that takes a link down (model.steps.Step.failure)

    @classmethod
    def started(cls, step) -> StepResult:
        """The record of a model.steps.Step starting now."""
        return cls(step.index, step.kind, step.describe(), step.where, t=time.time_ns(), failure=step.failure)


@dataclass(frozen=True)
class WindowRow:
    """One flow's figures over one action's traffic window (`action` "start": from the probes' start);
    `failure`: the action took a link down (model.steps.Step.failure), so its outage is a failover's."""

    action: str
    flow: str
    src: str
    dst: str
    figures: Any  # the traffic window: sent, delivered, lost, outage_ms, per_slave, stall_ms, ...
    failure: bool = False

    def as_dict(self) -> dict:
        head = {"action": self.action, "flow": self.flow, "from": self.src, "to": self.dst}
        return {**head, "failure": self.failure, **self.figures.as_dict()}


@dataclass(frozen=True)
class ConnectivityRow:
    """A connectivity check: of `total` pings from `src` to `dst` (at `ip`), how many were answered; with the
    connection check's bulk transfer, the bits per second it carried."""

    src: str
    dst: str
    ip: str
    connected: int
    total: int
    bandwidth: Optional[float] = None

    def as_dict(self) -> dict:
        out = {
            "from": self.src,
            "to": self.dst,
            "ip": self.ip,
            "connected": self.connected,
            "total": self.total,
        }
        return out if self.bandwidth is None else {**out, "bandwidth": self.bandwidth}


@dataclass(frozen=True)
class FailoverRow:
    """When the kernel failed over after a link-changing action, in a bonded pod: ms from the action's
    first link change to the first gratuitous ARP / the netlink failover event (None: not seen)."""

    action: str
    pod: str
    garp_ms: Optional[float]
    event_ms: Optional[float]

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ScenarioResult:
    path: str
    name: str
    plugin: str = ""
    description: str = ""
    status: str = "error"  # passed, failed, xfailed, xpassed, skipped (the kernel lacks a need), error
    message: str = ""
    kernel: str = field(default_factory=kernel_label)  # the kernel the run was on
    expect_failure: Optional[str] = None
    seconds: float = 0.0
    steps: list = field(default_factory=list)
    windows: list = field(default_factory=list)  # WindowRow, per flow: the start's, then one per action
    connectivity: list = field(default_factory=list)  # ConnectivityRow
    failovers: list = field(default_factory=list)  # FailoverRow, after link changes
    retried: list = field(default_factory=list)  # messages of attempts dropped for measurement errors
    timeline: dict = field(default_factory=dict)  # for the SVG: flows, probes, actions
    fabric: list = field(default_factory=list)  # the lab's switches and cables (model.topology.cabling)
    capture: str = ""  # file name of the run's pcapng in the report directory ("" when none was written)
    started: int = 0
    stopped: int = 0
    kept: str = ""  # the name of the lab left deployed after a failure (`bondlab run --keep`)

    @property
    def ok(self) -> bool:
        """Not a failure: a skip is not one either (the scenario does not apply to this kernel)."""
        return self.status in ("passed", "xfailed", "skipped")

    @property
    def failure_outages(self) -> list:
        """The outage of every flow's window after a failure action, ms (setup actions' windows, such as
        an 802.3ad bond's while its LACP partner forms, are left out)."""
        return [w.figures.outage_ms for w in self.windows if w.failure]

    @property
    def worst_outage_ms(self) -> Optional[float]:
        """The worst outage after a failure action (None: the scenario has no failure window)."""
        return max(self.failure_outages, default=None)

    def as_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "timeline"}
        out["worst_outage_ms"] = self.worst_outage_ms
        out["steps"] = [s.__dict__ for s in self.steps]
        for rows in ("windows", "connectivity", "failovers"):
            out[rows] = [row.as_dict() for row in out[rows]]
        return out
