"""Each step kind (model.steps declares them) bound to the function that does it on a deployed lab: its
handler and, for a deferred expectation, what it reads of the kernel where it stands (`at_step`, joined to
its arguments). A test checks that every declared kind has its handler here and nothing else does.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable, Optional

from bondlab.model.steps import KINDS, StepKind
from bondlab.run import actions, bandwidth, expectations, hashed, judge


@dataclass(frozen=True)
class Handled(StepKind):
    """A step kind with its handler: (timeline, args) for actions and polled expectations, (timeline,
    args, action index) for deferred ones."""

    handler: Optional[Callable] = None
    at_step: Optional[Callable] = None  # a deferred expectation's read of the kernel where it stands


def _bind(name: str, handler: Callable, at_step: Optional[Callable] = None) -> Handled:
    declared = {f.name: getattr(KINDS[name], f.name) for f in fields(StepKind)}
    return Handled(**declared, handler=handler, at_step=at_step)


STEPS = {
    kind.name: kind
    for kind in (
        _bind("cut", actions.cut),
        _bind("restore", actions.restore),
        _bind("linkState", actions.link_state),
        _bind("admin", actions.admin),
        _bind("flap", actions.flap),
        _bind("reboot", actions.reboot),
        _bind("netem", actions.netem),
        _bind("setActive", actions.set_active),
        _bind("deleteSlave", actions.delete_slave),
        _bind("restartPod", actions.restart_pod),
        _bind("lacpPartner", actions.lacp_partner),
        _bind("wait", actions.wait),
        _bind("activeSlave", expectations.active_slave),
        _bind("mii", expectations.mii),
        _bind("carrier", expectations.carrier),
        _bind("lacp", expectations.lacp),
        _bind("aggregator", expectations.aggregator),
        _bind("macSeen", expectations.mac_seen),
        _bind("connectivity", expectations.connectivity),
        _bind("concheck", bandwidth.connection_check),
        _bind("bandwidth", bandwidth.bandwidth),
        _bind("outage", judge.outage_of),
        _bind("lost", judge.lost),
        _bind("duplicated", judge.duplicated),
        _bind("spread", judge.spread),
        _bind("carriedBy", judge.carried_by),
        _bind("sticky", judge.sticky),
        _bind("hashed", hashed.hashed, at_step=hashed.at_step),
        _bind("garp", judge.garp),
        _bind("unsolicitedNa", judge.unsolicited_na),
        _bind("lacpdu", judge.lacpdu),
    )
}
