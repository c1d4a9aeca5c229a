"""The lab's traffic in the Python API (the `traffic` fixture): the scenario runner's probes on a Lab."""

from __future__ import annotations

import shutil
import tempfile
from typing import Optional

from bondlab.pytest.caller import caller_line, raise_failures


class Probes:
    """The scenario runner's probes on a lab: one helper per netns sending timestamped UDP probes on an
    absolute schedule, switch-port taps for per-slave accounting; one start and one stop per lab."""

    def __init__(self, lab) -> None:  # an api.Lab
        self.lab = lab
        self.workdir: Optional[str] = None
        self.failures: list = []

    @property
    def running(self):
        return self.lab.run.traffic

    def start(self, *flows, rate: int = 1000) -> list:
        """Start flows (`{"from": A, "to": B, "bidirectional": True, "rate": N}` or `(A, B)`: pods, POD/BOND
        or peers; shaped as in a scenario file: sessions, macs, family, vlan, packet) and return once every
        flow delivers; returns the traffic.probes.Flow list (names `A -> B`)."""
        from bondlab.model import schema
        from bondlab.model.flows import expand
        from bondlab.model.yamlsrc import SourceError
        from bondlab.world.labstate import LabError

        if self.workdir is not None:
            raise LabError("traffic runs once per lab: start() was called before")
        raw = [dict(zip(("from", "to"), f)) if isinstance(f, (tuple, list)) else dict(f) for f in flows]
        if not raw:
            raise LabError("traffic.start() needs at least one flow")
        where, directions = caller_line(), []
        for i, flow in enumerate(raw):
            try:
                schema.validate(flow, {"$ref": "#/$defs/flow"}, f"flows[{i}]", None, None, self.lab.subject)
            except SourceError as error:
                raise SourceError(error.message, where, error.path, error.subject) from None
            directions += expand(flow, rate, f"flows[{i}]", self.lab.subject, where)
        self.workdir = tempfile.mkdtemp(prefix="bondlab-traffic-")
        self.lab.run.start_traffic(directions, rate, self.workdir)
        return list(self.lab.run.flows)

    @property
    def flows(self) -> list:
        return list(self.lab.run.flows)

    def delivered(self) -> dict:
        """Flow name -> probes delivered so far (asks the running helpers)."""
        got = self._need(running=True).counts()
        return {flow.name: got.get(flow.id, 0) for flow in self.lab.run.flows}

    def wait_delivered(self, count: int, timeout: float = 10.0) -> dict:
        """Wait (deadline `timeout` s) until every flow has delivered `count` more probes than when called:
        traffic carried after a failover, measured, not slept for."""
        from bondlab.util.wait import until

        base = self.delivered()

        def enough():
            now = self.delivered()
            return now if all(now[name] - base[name] >= count for name in base) else None

        return until(enough, timeout, f"{count} more probes delivered on every flow", interval=0.05)

    def stop(self) -> None:
        """Stop the probes, read what they recorded and judge the expectations lab.expect() deferred to
        now (outage, lost, ...): a failing one raises traffic.verdict.ExpectationFailed."""
        self._need(running=True)
        self.lab.run.stop_traffic(self.failures)
        raise_failures(self.failures)

    def _need(self, running: bool):
        from bondlab.world.labstate import LabError

        tr = self.running
        if tr is None:
            raise LabError("no traffic: call traffic.start() first")
        if running and not tr.procs:
            raise LabError("the traffic has stopped")
        if not running and not tr.stopped:
            raise LabError("the figures come after traffic.stop()")
        return tr

    def _action(self, after) -> int:
        """The index of an action (a record from lab.act/cut/restore) among the windows; -1: the start."""
        if after is None:
            return -1
        for index, action in enumerate(self.lab.run.actions):
            if action is after:
                return index
        from bondlab.world.labstate import LabError

        raise LabError(
            f"{getattr(after, 'text', after)!r} opens no traffic window (not an action, or `wait`)"
        )

    def figures(self, after=None) -> dict:
        """Flow name -> traffic.window.Window over the window of the action `after` (to the next action or
        the end; None: from the start): sent, delivered, lost, duplicated, reordered, outage_ms, per_slave
        (tapped switch port label -> probes it carried), stall_ms (the sender's longest pause)."""
        self._need(running=False)
        index = self._action(after)
        return {flow.name: self.lab.run.window_of(flow, index) for flow in self.lab.run.flows}

    def window(self, after=None, flow: Optional[str] = None):
        """One flow's traffic.window.Window (the only flow, or the one named `A -> B`)."""
        from bondlab.world.labstate import LabError

        figures = self.figures(after)
        if flow is None and len(figures) != 1:
            raise LabError(f"name the flow: one of {', '.join(figures)}")
        name = flow or next(iter(figures))
        if name not in figures:
            raise LabError(f"no flow {name!r} (flows: {', '.join(figures)})")
        return figures[name]

    def expect(self, after=None, **expectations) -> str:
        """Judge traffic expectations (outage, lost, spread, carriedBy, garp, lacpdu; as in a scenario, on
        every flow or the one `flow:` names) over the window of the action `after`, as the YAML runner does:
        a bound that a sender stall leaves open raises traffic.verdict.MeasurementError, a failure
        traffic.verdict.ExpectationFailed (each verdict's error()). Returns what was seen."""
        from bondlab.run.steps import STEPS
        from bondlab.world.labstate import LabError

        self._need(running=False)
        wrong = [kind for kind in expectations if kind not in STEPS or not STEPS[kind].deferred]
        if wrong:
            raise LabError(f"not a traffic expectation: {', '.join(wrong)} (use lab.expect)")
        step, sr = self.lab._step("expect", expectations)
        sr.action = self._action(after)
        return "; ".join(
            f"{kind}: {STEPS[kind].handler(self.lab.run, args, sr.action).settled()}"
            for kind, args in step.args.items()
        )

    def failovers(self) -> list:
        """Per link-changing action and bonded pod: run.results.FailoverRow, when the kernel failed
        over, from the action's acknowledgement (the runner's failover table)."""
        self._need(running=False)
        return self.lab.run.failovers()

    def close(self) -> None:
        if self.running:
            self.running.kill()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
