"""The probe helpers as the lab drives them: one helper (traffic.helper, its own process) per network
namespace, each told its flows, listens and taps in a spec file, started, asked for counts, stopped, its
record read back (what each flow sent, received, had refused at send; what the taps saw; link events).
The figures computed from those records are traffic.window's and traffic.failover's; the rules that judge
them, traffic.rules'.

The kernel's input backlog drops are sampled at each window's bounds (mark): frames the lab itself lost.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass, field

from bondlab.model.flows import Shape
from bondlab.traffic import pcapng, sessions
from bondlab.traffic.wire import PORT


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
    session_addresses: list = field(default_factory=list)  # traffic.sessions.Session per session, at start
    src_pod: str = ""  # the pod at each end whose bond slaves are tapped ("" for a peer)
    dst_pod: str = ""

    @property
    def name(self) -> str:
        return f"{self.src} -> {self.dst}"

    @property
    def sessions(self) -> int:
        """Distinct 5-tuples (source ports); probe seq goes out on session seq % sessions."""
        return self.shape.sessions

    def helper_entry(self) -> dict:
        """What the source's probe helper sends for this flow (traffic.helper's `send` entries)."""
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
                ["ip", "netns", "exec", ns, sys.executable, "-m", "bondlab.traffic.helper", path],
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
        """Every frame the taps saw (traffic.pcapng.load's tuples), when started with `capture`."""
        out = []
        for ns in self.records:
            path = os.path.join(self.workdir, f"{ns}.cap")
            if self.capture and os.path.exists(path):
                out += pcapng.load(path, [t.label for t in self.taps if t.netns == ns])
        return out

    def link_events(self, netns: str) -> list:
        """Link events (traffic.linkevents.link_events' rows) the helper in `netns` read."""
        return self.records.get(netns, {}).get("links", [])

    def carriers(self, flow: Flow) -> dict:
        """seq -> the slave (POD/IFACE) a probe left its sender by (the first tap that saw it enter the switch
        from the sending pod); for a flow from a peer, the slave it arrived on (see arrivals)."""
        if not flow.src_pod:
            return self._tapped(flow, flow.dst_pod, to_pod=True)
        return self._tapped(flow, flow.src_pod, to_pod=False)

    def arrivals(self, flow: Flow) -> dict:
        """seq -> the slave a probe of a pod-to-pod flow arrived on (the tap that saw it leave the switch
        toward the receiving pod): the other end of the probe's path, {} unless both ends are pods."""
        return self._tapped(flow, flow.dst_pod, to_pod=True) if flow.src_pod and flow.dst_pod else {}

    def _tapped(self, flow: Flow, pod: str, to_pod: bool) -> dict:
        out: dict = {}
        for label, out_of_switch, kind, fid, seq, _ts, _raw in self.tap_events():
            if kind == "p" and fid == flow.id and seq not in out and label.count("/") == 1:
                if bool(out_of_switch) == to_pod and (not pod or label.split("/")[0] == pod):
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
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        return "<no answer>"
    return (proc.stdout.readline() or "<exited>").strip()
