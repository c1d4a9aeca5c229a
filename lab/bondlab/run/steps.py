"""The one list of step kinds. Each is declared here once: its handler, its argument (a definition of
scenarios/schema.json, whose durations the loader parses to seconds once), whether it is an action, whether
it is judged after the traffic stops, whether it needs traffic flows, and for an action whether it lasts
(a `within` after it counts from its end), opens a traffic window, and shows in the failover table; for a
deferred expectation, what it reads of the kernel where it stands (`at_step`, joined to its arguments).

The schema is compared with this list by a test (tests/unit/test_step_registry.py); the loader, the name
check, the timeline, the pytest fixtures and the scenario docs' tables read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from bondlab.run import actions, bandwidth, expectations, hashed, judge


@dataclass(frozen=True)
class StepKind:
    name: str
    handler: Callable
    action: bool  # an action (`cut: ...`) or an expectation inside `expect: {...}`
    deferred: bool = False  # an expectation judged on the probes after they stop
    needs_flows: bool = False  # meaningless without spec.traffic.flows: a load error without them
    lasts: bool = False  # an action that takes time: a `within` right after it counts from its end
    window: bool = True  # an action that opens a traffic window (`wait` does not)
    failover: bool = False  # a link change after which the report shows when the bond failed over
    at_step: Optional[Callable] = None  # a deferred expectation's read of the kernel where it stands

    @property
    def schema_def(self) -> str:
        """Where its argument's shape is declared in scenarios/schema.json."""
        return f"#/$defs/{'step' if self.action else 'expect'}/properties/{self.name}"


def _action(name, handler, **flags) -> StepKind:
    return StepKind(name, handler, action=True, **flags)


def _polled(name, handler) -> StepKind:
    return StepKind(name, handler, action=False)


def _judged(name, handler, **flags) -> StepKind:
    return StepKind(name, handler, action=False, deferred=True, needs_flows=True, **flags)


STEPS = {
    kind.name: kind
    for kind in (
        _action("cut", actions.cut, failover=True),
        _action("restore", actions.restore),
        _action("linkState", actions.link_state),
        _action("admin", actions.admin, failover=True),
        _action("flap", actions.flap, lasts=True, failover=True),
        _action("netem", actions.netem, lasts=True),
        _action("setActive", actions.set_active),
        _action("deleteSlave", actions.delete_slave),
        _action("restartPod", actions.restart_pod, lasts=True),
        _action("lacpPartner", actions.lacp_partner, lasts=True),
        _action("wait", actions.wait, window=False),
        _polled("activeSlave", expectations.active_slave),
        _polled("mii", expectations.mii),
        _polled("carrier", expectations.carrier),
        _polled("lacp", expectations.lacp),
        _polled("aggregator", expectations.aggregator),
        _polled("macSeen", expectations.mac_seen),
        _polled("connectivity", expectations.connectivity),
        _polled("concheck", bandwidth.connection_check),
        _polled("bandwidth", bandwidth.bandwidth),
        _judged("outage", judge.outage_of),
        _judged("lost", judge.lost),
        _judged("duplicated", judge.duplicated),
        _judged("spread", judge.spread),
        _judged("carriedBy", judge.carried_by),
        _judged("sticky", judge.sticky),
        _judged("hashed", hashed.hashed, at_step=hashed.at_step),
        _judged("garp", judge.garp),
        _judged("unsolicitedNa", judge.unsolicited_na),
        _judged("lacpdu", judge.lacpdu),
    )
}
ACTIONS = tuple(name for name, kind in STEPS.items() if kind.action)
EXPECTATIONS = tuple(name for name, kind in STEPS.items() if not kind.action)
DEFERRED = tuple(name for name, kind in STEPS.items() if kind.deferred)
