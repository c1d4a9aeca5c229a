"""Scenario steps: the one list of step kinds and what each is (run.steps gives each its handler), and a
step typed once where it is read: its arguments (durations in seconds), the names it uses (model.endpoints)
and the flows it judges, each with the line it was written on.

Each kind is declared here once: whether it is an action, whether it is judged after the traffic stops,
whether it needs traffic flows, and for an action whether it lasts (a `within` after it counts from its
end), opens a traffic window, and is a failure (it takes a link down: the failover table, the outage
summaries and the reports' worst outage read `StepKind.fails`, through Step.failure, and nothing else).
The schema is compared with this list by a test (tests/unit/test_step_registry.py); the loader, the name
check, the timeline, the pytest fixtures and the scenario docs' tables read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bondlab.model import endpoints, schema
from bondlab.model.yamlsrc import SourceError, where


@dataclass(frozen=True)
class StepKind:
    name: str
    action: bool  # an action (`cut: ...`) or an expectation inside `expect: {...}`
    deferred: bool = False  # an expectation judged on the probes after they stop
    needs_flows: bool = False  # meaningless without spec.traffic.flows: a load error without them
    lasts: bool = False  # an action that takes time: a `within` right after it counts from its end
    window: bool = True  # an action that opens a traffic window (`wait` does not)
    failover: bool = False  # it can take a link down, after which the bond must fail over
    down_when: tuple = ()  # (key, value): only with this argument does it take a link down (else: up)

    def fails(self, args: Any) -> bool:
        """Whether this action with these (typed) arguments is a failure: it takes a link down, so the
        report shows when the bond failed over and counts its windows' outage. Setup and repair actions
        (restore, an LACP partner forming, a pod restart) are not, nor is an expectation."""
        if not self.failover:
            return False
        key, value = self.down_when or (None, None)
        return key is None or (isinstance(args, dict) and args.get(key) == value)

    @property
    def schema_def(self) -> str:
        """Where its argument's shape is declared in scenarios/schema.json."""
        return f"#/$defs/{'step' if self.action else 'expect'}/properties/{self.name}"


def _action(name: str, **flags) -> StepKind:
    return StepKind(name, action=True, **flags)


def _polled(name: str) -> StepKind:
    return StepKind(name, action=False)


def _judged(name: str) -> StepKind:
    return StepKind(name, action=False, deferred=True, needs_flows=True)


KINDS = {
    kind.name: kind
    for kind in (
        _action("cut", failover=True),
        _action("restore"),
        # a VF's link state `disable`: the VF loses carrier in the pod, which the kernel sees as a cut cable
        # (the bond's MII monitor marks the slave down and fails over); `enable` and `auto` (the VF follows
        # its PF, up here unless cut) bring it back: those are repairs
        _action("linkState", failover=True, down_when=("state", "disable")),
        # an admin down of a slave in the pod: the bond sees the slave go down (NETDEV_DOWN) and fails over
        _action("admin", failover=True, down_when=("state", "down")),
        _action("flap", lasts=True, failover=True),
        _action("reboot", lasts=True, failover=True),
        _action("netem", lasts=True),
        _action("setActive"),
        _action("deleteSlave"),
        _action("restartPod", lasts=True),
        _action("lacpPartner", lasts=True),
        _action("wait", window=False),
        _polled("activeSlave"),
        _polled("mii"),
        _polled("carrier"),
        _polled("lacp"),
        _polled("aggregator"),
        _polled("macSeen"),
        _polled("connectivity"),
        _polled("concheck"),
        _polled("bandwidth"),
        _judged("outage"),
        _judged("lost"),
        _judged("duplicated"),
        _judged("spread"),
        _judged("carriedBy"),
        _judged("sticky"),
        _judged("hashed"),
        _judged("garp"),
        _judged("unsolicitedNa"),
        _judged("lacpdu"),
    )
}
ACTIONS = tuple(name for name, kind in KINDS.items() if kind.action)
# the failure actions as a reader names them: "cut, linkState disable, admin down, flap, reboot"
FAILURES = ", ".join(
    f"{name} {kind.down_when[1]}" if kind.down_when else name for name, kind in KINDS.items() if kind.failover
)
EXPECTATIONS = tuple(name for name, kind in KINDS.items() if not kind.action)
DEFERRED = tuple(name for name, kind in KINDS.items() if kind.deferred)


def needs_flows(kind: str, args: Any) -> list:
    """The expectations of a step that mean nothing without traffic flows."""
    return [name for name in args if KINDS[name].needs_flows] if kind == "expect" else []


@dataclass(frozen=True)
class FlowRef:
    """A flow a step judges, by name (`A -> B`), where it was written."""

    name: str
    where: str
    path: str


@dataclass(frozen=True)
class Step:
    """One step: its kind (an action name, or "expect"), its arguments as written (`raw`, for messages) and
    typed (`args`: durations in seconds; for `expect`, expectation kind -> its arguments), where it is, and
    the names and flows it uses."""

    index: int
    kind: str
    raw: Any
    where: str
    args: Any
    names: tuple = ()  # endpoints.Endpoint
    flows: tuple = ()  # FlowRef

    @property
    def is_action(self) -> bool:
        return self.kind != "expect"

    @property
    def failure(self) -> bool:
        """An action that takes a link down (StepKind.fails): its traffic windows are failovers."""
        return self.is_action and KINDS[self.kind].fails(self.args)

    def describe(self) -> str:
        if self.kind == "wait":
            return f"wait {self.raw}"
        if isinstance(self.raw, dict):
            return f"{self.kind} " + " ".join(f"{k}={_short(v)}" for k, v in self.raw.items())
        return f"{self.kind} {self.raw}"


def typed(index: int, kind: str, raw: Any, where_: str) -> Step:
    """A step already checked against the schema, typed: its arguments and what it names."""
    defs = schema.schema()["$defs"]
    args = schema.typed(raw, defs["step"]["properties"][kind], defs)
    names, flows = _mentions(kind, raw, where_, f"spec.steps[{index}].{kind}")
    return Step(index, kind, raw, where_, args, names, flows)


def step(index: int, raw: dict, where_: str, subject: str) -> Step:
    """A step written in Python ({kind: args}): checked against the schema, located at `where_`."""
    try:
        schema.validate(raw, {"$ref": "#/$defs/step"}, "", None, None, subject)
    except SourceError as error:
        raise SourceError(error.message, where_, error.path, error.subject) from None
    ((kind, args),) = raw.items()
    return typed(index, kind, args, where_)


def _mentions(kind: str, args: Any, at: str, base: str) -> tuple:
    """(the names, the flows) a step's arguments use, each where it is written (`at` when unlocated)."""
    if not isinstance(args, dict):
        return (), ()
    if kind == "expect":
        items = [(f"{k}.{kk}", vv, v) for k, v in args.items() if isinstance(v, dict) for kk, vv in v.items()]
    else:
        items = [(k, v, args) for k, v in args.items()]
    names, flows = [], []
    for key, value, parent in items:
        leaf, path = key.rsplit(".", 1)[-1], f"{base}.{key}"
        role = endpoints.ROLE_OF_KEY.get(key, endpoints.ROLE_OF_KEY.get(leaf))
        if leaf == "flow" and isinstance(value, str):
            flows.append(FlowRef(value, where(parent, leaf, at), path))
        elif role and isinstance(value, str):
            names.append(endpoints.parse(value, role, where(parent, leaf, at), path))
        elif role and isinstance(value, list):
            names += [
                endpoints.parse(text, role, where(value, j, at), f"{path}[{j}]")
                for j, text in enumerate(value)
                if isinstance(text, str)
            ]
    return tuple(names), tuple(flows)


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)
