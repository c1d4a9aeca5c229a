"""The figures of a flow in a time window (a step: from one action to the next), from what the probe helpers
recorded (traffic.probes.Traffic's sent, received, carriers, unsent):
- sent / delivered / lost (sent in the window, never delivered), duplicated, reordered;
- outage: the longest gap between the send times of consecutive delivered probes that overlaps the
  window (t_send(first after) - t_send(last before), the reference's method; 1 ms at 1000/s when nothing
  is lost);
- carriers: which tapped switch port carried each delivered probe (per-slave accounting), per session too;
  for a pod-to-pod flow, the slave each left its sender by and the slave it arrived on (per_slave_in);
- stall: the longest pause of the sender inside the window. The schedule is absolute, so a sender the
  scheduler starved sends the probes it owes in a burst afterwards: they are delivered and count as neither
  lost nor outage. A stall longer than STALL_LIMIT_MS can hide an outage (traffic.rules judges what that
  leaves open), as can frames the lab itself lost (its kernel's input backlog, the sender's full buffer).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Optional

STALL_LIMIT_MS = 10.0  # 10x the resolution at 1000/s
OVERRUN = ("EAGAIN", "ENOBUFS")  # a send refused for the sender's own buffer: the lab's error, not the net's


def stalled(stall_ms: float) -> bool:
    """A sender pause this long can hide an outage: the window's figures are a measurement error."""
    return stall_ms > STALL_LIMIT_MS


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
    per_slave_in: dict = field(default_factory=dict)  # pod to pod: the receiver's slave each probe arrived on

    @property
    def overrun(self) -> int:
        """Probes lost because the probe sender's own socket buffer was full (the lab VM starved the path
        that drains it), not because the network dropped them."""
        return sum(n for name, n in self.unsent.items() if name in OVERRUN)

    @property
    def stalled(self) -> bool:
        return stalled(self.stall_ms)

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
    arrivals: Optional[dict] = None,
) -> Window:
    """Figures for probes sent in [start, end); `stop`: when sending stopped (an open gap ends there);
    `sessions`: the flow's source ports (probe seq went out on session seq % sessions); `unsent`: seq ->
    errno of the probes the kernel refused at send; `backlog_drops`: what probes.Traffic.backlog_dropped
    counts; `arrivals`: seq -> the receiving pod's slave (probes.Traffic.arrivals), for a pod-to-pod flow."""
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
    per_slave_in: dict = {}
    per_session: list = [set() for _ in range(sessions)] if sessions > 1 else []
    for seq in delivered:
        label = carriers.get(seq, "?")
        per_slave[label] = per_slave.get(label, 0) + 1
        if arrivals:
            came = arrivals.get(seq, "?")
            per_slave_in[came] = per_slave_in.get(came, 0) + 1
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
        per_slave_in=per_slave_in,
        stall_ms=round(stall / 1e6, 3),
        gap_stall_ms=round(gap_stall / 1e6, 3),
        outage_floor_ms=round(gap_floor / 1e6, 3),
        per_session=[sorted(labels) for labels in per_session],
        unsent=refused,
        unsent_in_gap=gap_overrun,
        backlog_drops=backlog_drops,
    )
