"""Runner side of the traffic probes: one helper (bondlab.run.probe) per network namespace, and the figures
derived from what they recorded.

Figures, per flow and per time window (a step: from one action to the next):
- sent / delivered / lost (sent in the window, never delivered), duplicated, reordered;
- outage: the longest gap between the send times of consecutive delivered probes that overlaps the
  window (t_send(first after) - t_send(last before), the reference's method; 1 ms at 1000/s when nothing
  is lost);
- carriers: which tapped switch port carried each delivered probe (per-slave accounting);
- gratuitous ARPs and unsolicited NAs (apart) seen by a peer after a time; LACPDUs per switch port, with
  their actor and partner states;
- stall: the longest pause of the sender inside the window. The schedule is absolute, so a sender the
  scheduler starved sends the probes it owes in a burst afterwards: they are delivered and count as neither
  lost nor outage. A stall longer than STALL_LIMIT_MS makes the window's outage/lost figures a measurement
  error (an outage shorter than the stall can hide in it), never a silent pass;
- failover: when the kernel moved the active slave after a cut, from two independent clocks: the kernel's
  receive timestamp of the bond's gratuitous ARP at a slave's switch port, and the read time of the
  rtnetlink IFLA_EVENT_BONDING_FAILOVER in the pod's netns (an upper bound).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Optional

from bondlab.model.flows import Shape
from bondlab.run import capture, frames, sessions
from bondlab.run.wire import PORT

STALL_LIMIT_MS = 10.0  # 10x the resolution at 1000/s
OVERRUN = ("EAGAIN", "ENOBUFS")  # a send refused for the sender's own buffer: the lab's error, not the net's
IFLA_EVENT_BONDING_FAILOVER = 3


class TrafficError(Exception):
    pass


@dataclass
class Flow:
    id: int
    src: str  # endpoint name (pod or peer)
    dst: str
    src_ns: str
    dst_ns: str
    dst_ip: str
    rate: int = 1000
    shape: Shape = Shape()  # family, vlan, macs, sessions, packet template (model.flows)
    src_ip: str = ""  # the source's address of the flow's family
    src_if: str = ""  # the interface the source's addresses are on (its bond, a peer's device)
    dst_if: str = ""
    session_addresses: list = field(default_factory=list)  # run.sessions.Session per session, at start

    @property
    def name(self) -> str:
        return f"{self.src} -> {self.dst}"

    @property
    def sessions(self) -> int:
        """Distinct 5-tuples (source ports); probe seq goes out on session seq % sessions."""
        return self.shape.sessions

    def helper_entry(self) -> dict:
        """What the source's probe helper sends for this flow (run.probe's `send` entries)."""
        entry = {"flow": self.id, "dst": self.dst_ip, "rate": self.rate, "sessions": self.sessions}
        entry["family"] = 6 if self.shape.family == "ipv6" else 4
        return {**entry, **(sessions.frames(self) if self.shape.own_frames else {})}


@dataclass
class Tap:
    netns: str
    ifname: str
    label: str  # e.g. "test-pod/net1" (a slave's switch port) or "peer gw"
    neighbour_only: bool = False  # ARP/ND/LACP only, no probes (a peer watching for GARP)


def backlog_drop_count() -> int:
    """Frames this kernel dropped at its per-CPU input backlog since boot (netdev_max_backlog exceeded:
    softirq fell behind), column 2 of /proc/net/softnet_stat. Every veth hop of the lab's fabric queues there,
    so a starved lab VM loses probes the network under test never saw."""
    try:
        with open("/proc/net/softnet_stat") as stream:
            return sum(int(line.split()[1], 16) for line in stream if line.strip())
    except (OSError, IndexError, ValueError):
        return 0


@dataclass
class Traffic:
    flows: list
    taps: list
    workdir: str
    procs: dict = field(default_factory=dict)  # netns -> Popen
    records: dict = field(default_factory=dict)  # netns -> helper record
    started: int = 0
    stopped: int = 0
    capture: bool = False  # the helpers keep every tapped frame (frames())
    backlog: list = field(default_factory=list)  # (ns, backlog_drop_count()) at start, actions and stop

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        spaces = sorted(
            {f.src_ns for f in self.flows} | {f.dst_ns for f in self.flows} | {t.netns for t in self.taps}
        )
        for ns in spaces:
            spec = {
                "port": PORT,
                "out": os.path.join(self.workdir, f"{ns}.json"),
                "send": [f.helper_entry() for f in self.flows if f.src_ns == ns],
                "listen": listens(f for f in self.flows if f.dst_ns == ns),
                "links": True,
                "capture": os.path.join(self.workdir, f"{ns}.cap") if self.capture else "",
                "taps": [
                    {"ifname": t.ifname, "label": t.label, "neighbour_only": t.neighbour_only}
                    for t in self.taps
                    if t.netns == ns
                ],
            }
            path = os.path.join(self.workdir, f"{ns}.spec.json")
            with open(path, "w") as stream:
                json.dump(spec, stream)
            self.procs[ns] = subprocess.Popen(
                ["ip", "netns", "exec", ns, sys.executable, "-m", "bondlab.run.probe", path],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        for ns, proc in self.procs.items():
            line = _readline(proc, timeout)
            if line != "ready":
                self.kill()
                raise TrafficError(f"traffic cannot start: the probe helper in netns {ns} said {line!r}")
        self.started = time.time_ns()
        self.mark(self.started)

    def mark(self, at: int) -> None:
        """Sample the kernel's backlog drops at a window's bound `at` (start, each action, stop)."""
        self.backlog.append((at, backlog_drop_count()))

    def backlog_dropped(self, start: int, end: int) -> int:
        """Backlog drops from the last sample at or before `start` to the first at or after `end`."""
        if not self.backlog:
            return 0
        before = [n for ns, n in self.backlog if ns <= start] or [self.backlog[0][1]]
        after = [n for ns, n in self.backlog if ns >= end] or [self.backlog[-1][1]]
        return max(0, after[0] - before[-1])

    def counts(self) -> dict:
        """Delivered probes per flow id so far (asks every helper)."""
        out: dict = {}
        for ns, proc in self.procs.items():
            try:
                proc.stdin.write("stat\n")
                proc.stdin.flush()
            except OSError:
                raise TrafficError(f"traffic cannot start: the probe helper in netns {ns} exited") from None
            line = _readline(proc, 5)
            try:
                out.update({int(k): v for k, v in json.loads(line).items()})
            except ValueError:
                raise TrafficError(f"probe helper in netns {ns} answered {line!r}") from None
        return out

    def wait_flowing(self, timeout: float = 5.0) -> None:
        """Every flow must deliver probes before the timeline starts (ARP resolved, paths up)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.counts()
            dead = [f for f in self.flows if got.get(f.id, 0) < 10]
            if not dead:
                return
            if time.monotonic() >= deadline:
                names = ", ".join(f"{f.name} ({f.dst_ip})" for f in dead)
                raise TrafficError(
                    f"traffic cannot start: no probe delivered within {timeout:g} s on {names}"
                )
            time.sleep(0.05)  # pacing the poll, not waiting for state: the deadline is the wait

    def stop(self, timeout: float = 20.0) -> None:
        self.stopped = time.time_ns()
        self.mark(self.stopped)
        for proc in self.procs.values():
            try:
                proc.stdin.write("stop\n")
                proc.stdin.flush()
            except OSError:
                pass
        for ns, proc in self.procs.items():
            line = _readline(proc, timeout)
            if line != "done":
                self.kill()
                raise TrafficError(f"the probe helper in netns {ns} did not finish ({line!r})")
            proc.wait(timeout)
            with open(os.path.join(self.workdir, f"{ns}.json")) as stream:
                self.records[ns] = json.load(stream)
        self.procs.clear()

    def kill(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        self.procs.clear()

    # -- data --------------------------------------------------------------------------------
    def sent(self, flow: Flow) -> list:
        return self.records[flow.src_ns]["sent"].get(str(flow.id), [])

    def unsent(self, flow: Flow) -> dict:
        """seq -> errno of the flow's probes the kernel refused at send."""
        return {seq: err for seq, err in self.records[flow.src_ns].get("unsent", {}).get(str(flow.id), [])}

    def received(self, flow: Flow) -> list:
        return self.records[flow.dst_ns]["recv"].get(str(flow.id), [])

    def tap_events(self) -> list:
        out = []
        for record in self.records.values():
            out += record["taps"]
        return out

    def frames(self) -> list:
        """Every frame the taps saw (run.capture.load's tuples), when started with `capture`."""
        out = []
        for ns in self.records:
            path = os.path.join(self.workdir, f"{ns}.cap")
            if self.capture and os.path.exists(path):
                out += capture.load(path, [t.label for t in self.taps if t.netns == ns])
        return out

    def link_events(self, netns: str) -> list:
        """Link events (probe.link_events' rows) the helper in `netns` read."""
        return self.records.get(netns, {}).get("links", [])

    def carriers(self, flow: Flow) -> dict:
        """seq -> label of the tapped port that carried it (the first one seen)."""
        out: dict = {}
        for label, _out, kind, fid, seq, _ts, _raw in self.tap_events():
            if kind == "p" and fid == flow.id and seq not in out and label.count("/") == 1:
                out[seq] = label
        return out


def listens(flows) -> list:
    """The helper's `listen` entries: per interface, the 802.1Q-tagged flows it receives there off the
    wire (no VLAN device takes them in: the kernel hands them to AF_PACKET only)."""
    out: dict = {}
    for f in flows:
        if f.shape.vlan:
            out.setdefault(f.dst_if, []).append(f.id)
    return [{"ifname": ifname, "flows": ids} for ifname, ids in out.items()]


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    import select

    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        return "<no answer>"
    return (proc.stdout.readline() or "<exited>").strip()


@dataclass
class Window:
    sent: int
    delivered: int
    lost: int
    duplicated: int
    reordered: int
    outage_ms: float
    per_slave: dict
    stall_ms: float = 0.0  # the sender's longest pause between two probes in the window
    per_session: list = field(default_factory=list)  # per session (sessions > 1): the slaves that carried it
    gap_stall_ms: float = 0.0  # the longest pause inside the outage's gap (the part that may not be outage)
    backlog_drops: int = 0  # frames the lab's kernel dropped at its input backlog in the window (any flow)
    outage_floor_ms: float = 0.0  # the least the outage can be: its gap's longest unpaused stretch
    unsent: dict = field(default_factory=dict)  # errno name -> the window's probes the kernel refused at send
    unsent_in_gap: int = 0  # of those, refused for the lab's own full socket buffer inside the outage's gap

    @property
    def overrun(self) -> int:
        """Probes lost because the probe sender's own socket buffer was full (the lab VM starved the path
        that drains it), not because the network dropped them."""
        return sum(n for name, n in self.unsent.items() if name in OVERRUN)

    @property
    def stalled(self) -> bool:
        return self.stall_ms > STALL_LIMIT_MS

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def sessions_per_slave(per_session: list) -> dict:
    """Window.per_session -> slave label -> how many sessions it carried (a session that moved counts on
    each)."""
    out: dict = {}
    for labels in per_session:
        for label in labels:
            out[label] = out.get(label, 0) + 1
    return out


def outage_floor(stamps: list) -> int:
    """The longest stretch of a gap's send times (its last delivered probe, the lost ones, its first
    delivered after) with no sender pause longer than STALL_LIMIT_MS in it: where the sender paused, the
    network may have been up, so only a stretch it watched without pause is an outage for sure."""
    longest, begin = 0, stamps[0]
    for a, b in zip(stamps, stamps[1:]):
        if b - a > STALL_LIMIT_MS * 1e6:
            begin = b
        longest = max(longest, b - begin)
    return longest


def window(
    sent: list,
    received: list,
    carriers: dict,
    start: int,
    end: int,
    stop: int,
    sessions: int = 1,
    unsent: Optional[dict] = None,
    backlog_drops: int = 0,
) -> Window:
    """Figures for probes sent in [start, end); `stop`: when sending stopped (an open gap ends there);
    `sessions`: the flow's source ports (probe seq went out on session seq % sessions); `unsent`: seq ->
    errno of the probes the kernel refused at send; `backlog_drops`: Traffic.backlog_dropped's figure."""
    refused_as = {seq: errno.errorcode.get(code, str(code)) for seq, code in (unsent or {}).items()}
    first_seen: dict = {}
    dup = reordered = 0
    highest = -1
    for seq, _sent_ns, recv_ns in received:
        if seq in first_seen:
            dup += 1
            continue
        first_seen[seq] = recv_ns
        if seq < highest:
            reordered += 1
        highest = max(highest, seq)
    in_window = [seq for seq, t in enumerate(sent) if start <= t < end]
    delivered = [seq for seq in in_window if seq in first_seen]
    per_slave: dict = {}
    per_session: list = [set() for _ in range(sessions)] if sessions > 1 else []
    for seq in delivered:
        label = carriers.get(seq, "?")
        per_slave[label] = per_slave.get(label, 0) + 1
        if per_session:
            per_session[seq % sessions].add(label)
    # Outage: the longest run of lost probes, from the send time of the last delivered probe before it to
    # that of the first delivered after it (or to the end of sending). A sender the scheduler stalled loses
    # nothing and is not an outage.
    got = sorted(seq for seq in first_seen if seq < len(sent))
    gap = gap_stall = gap_floor = gap_overrun = 0
    bounds = [-1, *got, len(sent)]
    for a, b in zip(bounds, bounds[1:]):
        if b - a <= 1:
            continue
        t_a = sent[a] if a >= 0 else sent[0]
        t_b = sent[b] if b < len(sent) else stop
        if t_b > start and t_a < end and t_b - t_a > gap:
            gap = t_b - t_a
            inside = [t_a, *sent[max(a, 0) + 1 : b], t_b]
            gap_stall = max(y - x for x, y in zip(inside, inside[1:]))
            gap_floor = outage_floor(inside)
            gap_overrun = sum(1 for seq in range(a + 1, b) if refused_as.get(seq) in OVERRUN)
    # a pause that began before the window and ended in it is the window's too
    lead = [sent[in_window[0] - 1]] if in_window and in_window[0] > 0 else []
    stamps = lead + [sent[seq] for seq in in_window]
    stall = max((b - a for a, b in zip(stamps, stamps[1:])), default=0)
    dup_in = sum(1 for seq, _s, _r in received if start <= _s < end) - len(delivered)
    refused: dict = {}
    for seq in in_window:
        if seq in refused_as and seq not in first_seen:
            refused[refused_as[seq]] = refused.get(refused_as[seq], 0) + 1
    return Window(
        sent=len(in_window),
        delivered=len(delivered),
        lost=len(in_window) - len(delivered),
        duplicated=max(0, dup_in),
        reordered=reordered,
        outage_ms=round(gap / 1e6, 3),
        per_slave=per_slave,
        stall_ms=round(stall / 1e6, 3),
        gap_stall_ms=round(gap_stall / 1e6, 3),
        outage_floor_ms=round(gap_floor / 1e6, 3),
        per_session=[sorted(labels) for labels in per_session],
        unsent=refused,
        unsent_in_gap=gap_overrun,
        backlog_drops=backlog_drops,
    )


def backlog_words(w: Window) -> str:
    return (
        f"the lab's kernel dropped {w.backlog_drops} frame(s) at its input backlog in this window "
        "(netdev_max_backlog: the lab starved its own softirq)"
    )


def overrun_words(w: Window) -> str:
    said = ", ".join(f"{name} {n}" for name, n in sorted(w.unsent.items()) if name in OVERRUN)
    return f"{said}: its own socket buffer was full, the lab starved the path that drains it"


def lost_verdict(w: Window, high: Optional[int]) -> str:
    """'measurement error: ...' when the loss is over `high` only with frames the lab itself lost (its
    kernel's input backlog, the sender's own full buffer); '' otherwise (the bound judges it)."""
    if high is None or w.lost <= high:
        return ""
    if w.backlog_drops:
        return f"measurement error: lost {w.lost} > {high}, but {backlog_words(w)}"
    if high >= w.lost - w.overrun:
        return (
            f"measurement error: lost {w.lost} > {high}, but {w.overrun} never left the sender "
            f"({overrun_words(w)})"
        )
    return ""


def outage_verdict(w: Window, low_ms, high_ms) -> str:
    """'' when the outage figure supports the bounds; 'measurement error: ...' when a sender stall leaves it
    open; 'above'/'below' when the outage is out of bounds for sure. A stall hides at most its own length:
    the true outage is <= max(outage, stall), and >= the longest stretch of its gap without a pause."""
    if high_ms is not None:
        if w.outage_ms <= high_ms < w.stall_ms:
            return (
                f"measurement error: the probe sender stalled {w.stall_ms:g} ms in this window, longer than "
                f"the {high_ms:g} ms bound: an outage could hide in it (measured {w.outage_ms:g} ms, "
                f"lost {w.lost})"
            )
        if w.outage_ms > high_ms:
            if w.outage_floor_ms <= high_ms and w.gap_stall_ms > STALL_LIMIT_MS:
                return (
                    f"measurement error: outage {w.outage_ms:g} ms > {high_ms:g} ms, but the sender paused "
                    f"inside that gap (longest {w.gap_stall_ms:g} ms); the longest stretch of it sent "
                    f"without a pause is {w.outage_floor_ms:g} ms"
                )
            if w.backlog_drops:
                return (
                    f"measurement error: outage {w.outage_ms:g} ms > {high_ms:g} ms, but {backlog_words(w)}"
                )
            if w.unsent_in_gap:
                return (
                    f"measurement error: outage {w.outage_ms:g} ms > {high_ms:g} ms, but {w.unsent_in_gap} "
                    f"probe(s) inside that gap never left the sender ({overrun_words(w)})"
                )
            return "above"
    if low_ms is not None and w.outage_ms < low_ms:
        return "below"
    return ""


def failover_times(events: list, taps: list, bond: str, slaves: list, after: int, before: int) -> dict:
    """When the kernel failed over after `after` (ns), before `before`: `garp_ns`, the kernel timestamp of the
    first gratuitous ARP entering the switch from one of the pod's slave ports (`slaves`: tap labels);
    `event_ns`, the read time of the first IFLA_EVENT_BONDING_FAILOVER of `bond` in the pod's netns."""
    out = {"garp_ns": 0, "event_ns": 0}
    for ts, name, event, *_rest in events:
        if name == bond and event == IFLA_EVENT_BONDING_FAILOVER and after <= ts < before:
            out["event_ns"] = ts
            break
    entering = [t for t in taps if not t[1]]
    firsts = [stamp for label in slaves for stamp in frames.notices(entering, label, after, "garp", before)]
    out["garp_ns"] = min(firsts, default=0)
    return out


MII = {0: "MII up", 1: "MII going down", 2: "MII down", 3: "MII going back"}  # IFLA_BOND_SLAVE_MII_STATUS


def bond_events(events: list, bond: str, slaves: list) -> list:
    """(read time ns, slave, what) of a bond's kernel events in its pod's netns: each change of a slave's MII
    status ("MII down", ...; up before the first message) and each failover ("active", the slave that
    became active)."""
    out, mii = [], dict.fromkeys(slaves, 0)
    names = {e[5]: e[1] for e in events if e[1] in mii}  # ifindex -> slave, from all its messages
    for ts, name, event, _carrier, _master, _index, status, _role, active, *_ in events:
        if name in mii:
            if status is not None and status != mii[name]:
                mii[name] = status
                out.append((ts, name, MII.get(status, f"MII {status}")))
        elif name == bond and event == IFLA_EVENT_BONDING_FAILOVER:
            out.append((ts, names.get(active, "?"), "active"))
    return out
