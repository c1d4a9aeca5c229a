"""A scenario's timeline on one deployed lab: steps played in order through the step registry (run.steps),
the probes started before and stopped after, the traffic windows between actions.

Actions are timestamped (CLOCK_REALTIME ns, the probes' clock) when they start; the traffic figures of a
step are those of the probes sent from its action to the next action. Expectations on kernel state are
polled against a deadline at their place in the timeline; expectations on traffic are judged after the
probes stop, over the window of the action they follow. The YAML runner (run.runner) and the pytest
fixtures (pytest.fixtures) both drive this class.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from bondlab.run.names import Names, of_family
from bondlab.run.reader import READER, ResolveError
from bondlab.run.results import FailoverRow, StepResult
from bondlab.run.steps import STEPS
from bondlab.run.verdicts import record
from bondlab.traffic import failover, frames, probes, sessions
from bondlab.traffic.window import window
from bondlab.util import wait
from bondlab.world.labstate import LabError
from bondlab.world.netns import Netns

TAIL = 0.3  # probes keep flowing this long after the last step, so its window has data


class Timeline:
    """Steps on one deployed lab."""

    def __init__(self, state, progress: Callable = lambda text: None) -> None:
        self.state, self.progress = state, progress
        self.names = Names(state)
        self.fabric = Netns(state.netns_name("fabric"))
        self.flows: list = []
        self.traffic: Optional[probes.Traffic] = None
        self.deferred: list = []  # (StepResult, kind, args)
        self.actions: list = []  # StepResult of actions that open a traffic window, in order
        self.connectivity: list = []  # results.ConnectivityRow of connectivity checks
        self.last_cut: list = []  # switch ports cut by `cut: {active: POD}`
        self.since = 0  # ns: what a `within` right after an action counts from (see play)
        self.partners = 0  # LACP partners made by `lacpPartner` (lag1, lag2, ...)
        self.clock = time.time_ns

    def open_sockets(self) -> None:
        """Open the netlink sockets (and import pyroute2) before the timeline; cuts use the fabric's."""
        for pod in self.state.pods:
            READER.link(pod.netns, "lo")
        READER.link(self.fabric.name, "lo")

    def play(self, step, sr: StepResult, failures: list) -> None:
        """One step into `sr` (stamped when it started): an action opens a traffic window (a `wait` does not);
        an expectation polls kernel state now and defers traffic figures until the probes stop."""
        if step.is_action:
            kind = STEPS[step.kind]
            if kind.window and self.traffic:
                self.traffic.mark(sr.t)
            sr.done_at = kind.handler(self, step.args) or 0
            # A check right after the action counts from its first link change, or from its end when it
            # lasts (a flap, a pod restart, ...): a `within` is about what follows the action.
            self.since = self.clock() if kind.lasts else sr.done_at
            if kind.window:
                self.actions.append(sr)
            return
        sr.action = len(self.actions) - 1
        for name, args in step.args.items():
            kind = STEPS[name]
            if kind.deferred:
                if kind.at_step:  # what the kernel has now, for the verdict after the probes stop
                    args = {**args, "at_step": kind.at_step(self, args)}
                self.deferred.append((sr, name, args))
                continue
            record(sr, name, lambda kind=kind, args=args: kind.handler(self, args), failures)
        self.since = 0  # a later check is timed from when it starts

    def stop_traffic(self, failures: list) -> None:
        """Stop the probes (after a tail: the last step's window needs probes after it), then judge the
        deferred expectations on what they recorded."""
        time.sleep(TAIL)
        self.traffic.stop()
        for sr, name, args in self.deferred:
            record(sr, name, lambda s=sr, k=STEPS[name], a=args: k.handler(self, a, s.action), failures)

    def close(self) -> None:
        """Kill probe helpers still running and close the netlink sockets (the lab itself stays)."""
        if self.traffic:
            self.traffic.kill()
        READER.close()

    # -- traffic ------------------------------------------------------------------------------
    def start_traffic(self, flows: list, rate: int, workdir: str, capture: bool = False) -> None:
        """Probes for `flows` (model.flows.Flow, one per direction, each at its own rate; `rate` is the
        run's, for the progress line), and taps at the switch ports of the pods' slaves (per-slave
        accounting) and on the peers (GARP/NA); `capture`: keep every tapped frame for a pcapng
        (traffic.pcapng)."""
        if not flows:
            return
        names = self.names
        taps, tapped = [], set()
        peers = self.state.peers
        for fid, declared in enumerate(flows, start=1):
            self.flows.append(self._flow(fid, declared))
            for end in (declared.src.text, declared.dst.text):
                if end in tapped:
                    continue
                tapped.add(end)
                if end in peers:
                    taps.append(probes.Tap(peers[end].netns, "eth0", f"peer {end}", neighbour_only=True))
                    continue
                pod = names.pod(end)
                for slave in names.slaves(pod):
                    link = f"{pod.name}/{slave}"
                    try:
                        taps.append(probes.Tap(self.fabric.name, names.slave_port(link), link))
                    except LabError:
                        continue
        for flow in self.flows:
            if flow.shape.family == "ipv6":
                self._past_dad(flow)
            if flow.shape.own_frames:  # frames of their own: built from the path the kernel would take
                flow.session_addresses = sessions.plan(flow, self._path(flow, ping=True))
        self.traffic = probes.Traffic(self.flows, taps, workdir, capture=capture)
        self.traffic.start()
        self.traffic.wait_flowing()
        for flow in self.flows:  # kernel UDP: the neighbours its probes resolved
            if not flow.shape.own_frames:
                flow.session_addresses = sessions.plan(flow, self._path(flow, ping=False))
        self.progress(f"traffic flowing: {', '.join(f.name for f in self.flows)} at {rate}/s")

    def _flow(self, fid: int, declared) -> probes.Flow:
        """One direction of a flow (model.flows.Flow), addressed in its family (an error at the flow's
        line when an end has no address of it)."""
        names, src, dst, shape = self.names, declared.src, declared.dst, declared.shape
        family = shape.family
        src_ns, src_addrs, src_kind = names.endpoint(src, family)
        dst_ns, dst_addrs, dst_kind = names.endpoint(dst, family)
        for end, found in ((src, src_addrs), (dst, dst_addrs)):
            if not found:
                at = declared.where or "flow"
                raise probes.TrafficError(f"{at}: traffic cannot start: {end} has no {family} address")
        peer = self.state.peers.get(src.text)
        ip = names.address_for(of_family(family, peer.addresses) if peer else src_addrs, dst_addrs)
        src_if, dst_if = names.interface(src), names.interface(dst)
        return probes.Flow(
            fid,
            src.text,
            dst.text,
            src_ns,
            dst_ns,
            ip,
            declared.rate,
            shape,
            src_addrs[0].split("/")[0],
            src_if,
            dst_if,
            src_pod=names.pod(src).name if src_kind == "pod" else "",
            dst_pod=names.pod(dst).name if dst_kind == "pod" else "",
        )

    def _past_dad(self, flow) -> None:
        """Wait until both ends' IPv6 addresses are past duplicate address detection: a tentative address
        neither sends nor receives, so probes sent before would count as lost."""
        for ns, ifname in ((flow.src_ns, flow.src_if), (flow.dst_ns, flow.dst_if)):
            what = f"traffic cannot start: {flow.name}: IPv6 addresses of {ifname} past DAD"
            try:
                wait.until(lambda ns=ns, ifname=ifname: not READER.tentative(ns, ifname), 5.0, what)
            except wait.Timeout as error:
                raise probes.TrafficError(str(error)) from None

    def _path(self, flow, ping: bool) -> dict:
        try:
            return READER.resolve(flow.src_ns, flow.dst_ip, ping=ping, timeout=5 if ping else 1)
        except ResolveError as error:
            if not ping:  # kernel UDP flows without the addresses on record: the probes still flow
                return {"src_mac": None, "dst_mac": None}
            raise probes.TrafficError(f"traffic cannot start: {flow.name}: {error}") from None

    def flows_named(self, name: Optional[str]) -> list:
        return [f for f in self.flows if name in (None, f.name)]

    def window_bounds(self, action: int) -> tuple:
        """[start, end) ns of an action's traffic window: from its start to the next action's, or to the end
        of the probes (action -1: from when the probes started)."""
        start = self.actions[action].t if action >= 0 else self.traffic.started
        later = [a.t for a in self.actions if a.t > start]
        return start, later[0] if later else self.traffic.stopped

    def changed_at(self, action: int) -> int:
        """When an action's first link change was sent (a cut's, a restore's), else its start; the probes'
        start for action -1. What happened from then on is the action's doing: before it the lab only looks
        the ports up (~900 ms for a ToR's ten ports under TCG) while the probes still go the old way."""
        if action < 0:
            return self.traffic.started
        return self.actions[action].done_at or self.actions[action].t

    def window_of(self, flow, action: int, since: int = 0):
        """The flow's figures in an action's window (from `since` on, when that is later)."""
        start, end = self.window_bounds(action)
        start = max(start, since)
        return window(
            self.traffic.sent(flow),
            self.traffic.received(flow),
            self.traffic.carriers(flow),
            start,
            end,
            self.traffic.stopped,
            flow.sessions,
            self.traffic.unsent(flow),
            self.traffic.backlog_dropped(start, end),
            self.traffic.arrivals(flow),
        )

    def failovers(self) -> list:
        """Per link-changing action and bonded pod: when the kernel failed over
        (traffic.failover.failover_times)."""
        tr, out = self.traffic, []
        taps = tr.tap_events()
        for i, action in enumerate(self.actions):
            if not action.done_at or not action.failure:
                continue
            before = self.actions[i + 1].t if i + 1 < len(self.actions) else tr.stopped
            for pod in self.state.pods:
                bond = pod.bond
                if not bond:
                    continue
                labels = [t.label for t in tr.taps if t.label.startswith(pod.name + "/")]
                got = failover.failover_times(
                    tr.link_events(pod.netns), taps, bond, labels, action.done_at, before
                )
                if got["garp_ns"] or got["event_ns"]:
                    garp_ms, event_ms = (ms_after(got[k], action.done_at) for k in ("garp_ns", "event_ns"))
                    out.append(FailoverRow(action.text, pod.name, garp_ms, event_ms))
        return out

    def kernel_events(self) -> list:
        """[ms after the probes started, pod, slave, what] for every bonded pod, in time order: its slaves'
        MII changes and its failovers (traffic.failover.bond_events; read times), and the gratuitous ARPs and
        unsolicited NAs its slaves sent
        into the switch (kernel times): the marks of the report's timelines."""
        tr, out = self.traffic, []
        entering = [t for t in tr.tap_events() if not t[1]]  # tapped entering the switch: sent by the pod
        for pod in self.state.pods:
            if not pod.bond:
                continue
            got = failover.bond_events(tr.link_events(pod.netns), pod.bond, list(pod.slaves))
            for slave in pod.slaves:
                for what, mark in (("garp", "GARP"), ("na", "NA")):
                    stamps = frames.notices(entering, f"{pod.name}/{slave}", tr.started, what)
                    got += [(ts, slave, mark) for ts in stamps]
            out += [[ms_after(ts, tr.started), pod.name, slave, what] for ts, slave, what in got]
        return sorted(out)


def ms_after(ns: int, since: int) -> Optional[float]:
    """ns on the probes' clock -> ms after `since`, rounded to the µs; None for 0 (never happened)."""
    return round((ns - since) / 1e6, 3) if ns else None
