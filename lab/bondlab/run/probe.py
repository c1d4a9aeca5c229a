"""The traffic helper: one long-lived process per network namespace (`ip netns exec NS python -m
bondlab.run.probe SPEC.json`), started before a scenario's timeline and stopped after it.

It does three things in one poll loop, with the stdlib only (no scapy on the hot path):
- sends sequence-numbered, timestamped UDP probes to each of its flows' destinations at a fixed rate
  (default 1000/s; the schedule is absolute, so a stalled sender shows as a gap, never as drift); a flow
  of N `sessions` sends probe seq from source port SESSION_PORT + 64 * flow + seq % N (N 5-tuples for the
  bond's hash, round-robin, the same ports every run);
- receives every probe sent to it, with the kernel's receive timestamp (SO_TIMESTAMPNS);
- taps interfaces (AF_PACKET with a classic BPF filter): probes seen on a switch port (which slave carried
  which probe), ARP (gratuitous ARP: sender IP == target IP), IPv6 ND and LACPDUs, each with the kernel's
  timestamp. Every ARP, ND and LACPDU frame is kept (hex) for scapy to dissect later, off the hot path.

Timestamps are CLOCK_REALTIME ns (what SO_TIMESTAMPNS gives); every helper and the runner share one kernel,
so the runner's action marks (time.time_ns()) are on the same clock.

With `links` in its spec it also listens to rtnetlink link events in its netns (RTM_NEWLINK: carrier,
IFLA_EVENT_BONDING_FAILOVER), each stamped when read: an upper bound of when the kernel changed (a helper
the scheduler stalls reads late), next to the kernel-stamped GARP the bond sends at failover.

The helper runs at the kernel's own workers' priority, on purpose. Raised above them (SCHED_FIFO, or nice -10)
on the lab VM's single CPU, helpers starved the kworkers and the RCU grace-period thread that hold RTNL: RTNL
stayed taken for up to ~1 s, the bond's MII commit and failover waited on it (290 ms instead of ~100 with
miimon 100) and so did every netlink read of the runner - the lab distorting what it measures. A sender the
scheduler stalls shows as a stall in its window and is judged as such (run.traffic.outage_verdict).

With `capture` (a path) in its spec it keeps every tapped frame (kernel timestamp, tap, direction, bytes)
and writes them there when it stops, for the run's pcapng (run.capture).

Control on stdin, one word per line: `stat` prints a JSON line of delivered counts per flow; `stop` stops
sending, keeps receiving for `drain` seconds, writes the record to `out` and prints `done`.
Payload: magic b"BLP1", flow id (u16), seq (u32), send time (u64 ns), padding to `size` bytes.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import select
import socket
import struct
import sys
import time

from bondcni import rtnl  # the plugin's attribute decoder (stdlib only)
from bondlab.run import capture  # stdlib only

MAGIC = b"BLP1"
HEAD = struct.Struct("!4sHIQ")
PORT = 47001
SESSION_PORT = 20000  # + 64 * flow id + session: a flow's sessions' source ports, below the ephemeral range
SO_TIMESTAMPNS = 35
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
RTMGRP_LINK = 1
RTM_NEWLINK = 16
IFLA_IFNAME, IFLA_MASTER, IFLA_EVENT = 3, 10, 44
IFLA_INFO_SLAVE_DATA = 5  # in IFLA_LINKINFO, next to rtnl.IFLA_INFO_KIND/DATA
IFLA_BOND_SLAVE_STATE, IFLA_BOND_SLAVE_MII_STATUS = 1, 2  # in IFLA_INFO_SLAVE_DATA of a bond's slave
IFLA_BOND_ACTIVE_SLAVE = 2  # in IFLA_INFO_DATA of a bond
IFF_LOWER_UP = 1 << 16
NLMSG = struct.Struct("=IHHII")
IFINFO = struct.Struct("=BxHiII")


def session_port(flow: int, session: int) -> int:
    """The fixed source port of a flow's session (of a flow of sessions: N > 1)."""
    return SESSION_PORT + flow * 64 + session


def bpf_program(port: int) -> bytes:
    """Accept ARP, LACP (slow protocols), IPv6, and IPv4 UDP to `port` (port 0: no UDP at all, for a peer
    that only watches for GARP/NA); drop the rest in the kernel."""
    ins = [
        (0x28, 0, 0, 12),  # ldh [12]           ethertype
        (0x15, 8, 0, 0x0806),  # ARP -> accept
        (0x15, 7, 0, 0x8809),  # slow protocols (LACP) -> accept
        (0x15, 6, 0, 0x86DD),  # IPv6 -> accept (ND filtered in userspace)
        (0x15, 0, 6, 0x0800),  # not IPv4 -> drop
        (0x30, 0, 0, 23),  # ldb [23]           IP protocol
        (0x15, 0, 4, 17),  # not UDP -> drop
        (0xB1, 0, 0, 14),  # ldxb 4*([14]&0xf)  IP header length
        (0x48, 0, 0, 16),  # ldh [x+16]         UDP destination port
        (0x15, 0, 1, port or 0x10000),
        (0x06, 0, 0, 0xFFFF),  # accept
        (0x06, 0, 0, 0),  # drop
    ]
    return b"".join(struct.pack("HBBI", *i) for i in ins)


def attach_filter(sock: socket.socket, port: int) -> ctypes.Array:
    code = bpf_program(port)
    buf = ctypes.create_string_buffer(code)
    fprog = struct.pack("HL", len(code) // 8, ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    return buf  # keep alive


def _big_buffer(sock: socket.socket) -> None:
    """16 MiB of receive buffer past net.core.rmem_max (root): a helper the scheduler starves for a while
    must not lose what it has not read yet."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)


def link_events(data: bytes, now: int) -> list:
    """RTM_NEWLINK messages in one rtnetlink read -> [now, ifname, event, carrier, master index, ifindex,
    slave MII, slave role, active slave]: a bond slave's IFLA_BOND_SLAVE_MII_STATUS (0 up, 1 going down,
    2 down, 3 going back) and IFLA_BOND_SLAVE_STATE (0 active, 1 backup), a bond's IFLA_BOND_ACTIVE_SLAVE
    (ifindex); None where the message has none (the kernel sends a slave's on each change of either)."""
    out, off = [], 0
    while off + NLMSG.size <= len(data):
        length, kind, _flags, _seq, _pid = NLMSG.unpack_from(data, off)
        if length < NLMSG.size:
            break
        if kind == RTM_NEWLINK and length >= NLMSG.size + IFINFO.size:
            body = data[off + NLMSG.size : off + length]
            _fam, _type, index, flags, _change = IFINFO.unpack_from(body)
            top = rtnl.attrs(body, IFINFO.size)
            info = rtnl.attrs(top.get(rtnl.IFLA_LINKINFO, b""))
            slave = rtnl.attrs(info.get(IFLA_INFO_SLAVE_DATA, b""))
            is_bond = _text(info.get(rtnl.IFLA_INFO_KIND)) == "bond"
            bond = rtnl.attrs(info.get(rtnl.IFLA_INFO_DATA, b"")) if is_bond else {}
            out.append(
                [
                    now,
                    _text(top.get(IFLA_IFNAME)),
                    _number(top.get(IFLA_EVENT)) or 0,
                    bool(flags & IFF_LOWER_UP),
                    _number(top.get(IFLA_MASTER)) or 0,
                    index,
                    _number(slave.get(IFLA_BOND_SLAVE_MII_STATUS)),
                    _number(slave.get(IFLA_BOND_SLAVE_STATE)),
                    _number(bond.get(IFLA_BOND_ACTIVE_SLAVE)),
                ]
            )
        off += (length + 3) & ~3
    return out


def _text(raw) -> str:
    return (raw or b"").split(b"\0", 1)[0].decode(errors="replace")


def _number(raw):
    """A u8/u16/u32 attribute's value, None when absent."""
    return int.from_bytes(raw, sys.byteorder) if raw else None


def _stamp(ancdata) -> int:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec * 1_000_000_000 + nsec
    return time.time_ns()


class Helper:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.port = spec.get("port", PORT)
        self.size = max(HEAD.size, spec.get("size", 64))
        self.flows = spec.get("send", [])
        self.sent = {str(f["flow"]): [] for f in self.flows}
        self.recv: dict = {}
        self.taps: list = []  # [tap label, outgoing?, kind, flow, seq, ts, extra]
        self.sending = True
        self.rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _big_buffer(self.rx)
        self.rx.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.rx.bind(("0.0.0.0", self.port))
        self.rx.setblocking(False)
        self.tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.tx.setblocking(False)
        # a flow of N sessions sends probe seq from socket seq % N, each bound to its own source port
        self.senders = {str(f["flow"]): self._senders(f) for f in self.flows}
        self.tap_socks: dict = {}
        self._filters = []
        # every tapped frame, for the run's pcapng (run.capture), when the runner asks for one
        self.frames = [] if spec.get("capture") else None
        self.tap_index = {tap["label"]: i for i, tap in enumerate(spec.get("taps", []))}
        for tap in spec.get("taps", []):
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            self._filters.append(attach_filter(sock, 0 if tap.get("neighbour_only") else self.port))
            _big_buffer(sock)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.bind((tap["ifname"], 0))
            sock.setblocking(False)
            self.tap_socks[sock.fileno()] = (sock, tap["label"])
        self.errors: list = []
        self.links: list = []  # link_events' rows
        self.nl = None
        if spec.get("links"):
            self.nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)  # NETLINK_ROUTE
            _big_buffer(self.nl)
            self.nl.bind((0, RTMGRP_LINK))
            self.nl.setblocking(False)

    def _senders(self, flow: dict) -> list:
        count = flow.get("sessions", 1)
        if count == 1:
            return [self.tx]
        out = []
        for i in range(count):  # fixed ports: the hash of each 5-tuple, so which slave, is the same each run
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("0.0.0.0", session_port(flow["flow"], i)))
            sock.setblocking(False)
            out.append(sock)
        return out

    def _drain_nl(self) -> None:
        while True:
            try:
                data = self.nl.recv(65536)
            except BlockingIOError:
                return
            except OSError as error:  # ENOBUFS: events lost; say so rather than pretend
                self.errors.append(f"rtnetlink: {error.strerror}")
                return
            self.links += link_events(data, time.time_ns())

    # -- receive ---------------------------------------------------------------------------------
    def _drain_rx(self) -> None:
        while True:
            try:
                data, anc, _flags, _addr = self.rx.recvmsg(2048, 64)
            except BlockingIOError:
                return
            if len(data) < HEAD.size or data[:4] != MAGIC:
                continue
            _m, flow, seq, sent = HEAD.unpack_from(data)
            self.recv.setdefault(str(flow), []).append((seq, sent, _stamp(anc)))

    def _drain_tap(self, sock: socket.socket, label: str) -> None:
        while True:
            try:
                data, anc, _flags, addr = sock.recvmsg(2048, 64)
            except BlockingIOError:
                return
            except OSError as error:
                if error.errno in (errno.ENODEV, errno.ENXIO):  # the tapped link was deleted: stop tapping
                    self.tap_socks.pop(sock.fileno(), None)
                return  # ENETDOWN while the port is cut: the tap stays and sees the port come back
            ts = _stamp(anc)
            out = addr[2] == PACKET_OUTGOING
            if self.frames is not None:
                self.frames.append((ts, self.tap_index[label], out, data))
            etype = int.from_bytes(data[12:14], "big")
            if etype == 0x0800:
                off = 14 + (data[14] & 0xF) * 4 + 8
                if data[off : off + 4] == MAGIC:
                    _m, flow, seq, _sent = HEAD.unpack_from(data, off)
                    self.taps.append((label, out, "p", flow, seq, ts, ""))
            elif etype in (0x0806, 0x8809) or (etype == 0x86DD and len(data) > 54 and data[20] == 58):
                if etype == 0x86DD and data[54] not in (135, 136):
                    continue
                kind = {0x0806: "arp", 0x8809: "lacp"}.get(etype, "nd")
                self.taps.append((label, out, kind, 0, 0, ts, data.hex()))

    # -- send ------------------------------------------------------------------------------------
    def _send_due(self, start: int, now: int) -> int:
        """Send every probe due by `now`; return ns until the next one is due."""
        nxt = 1 << 62
        for flow in self.flows:
            period = 1_000_000_000 // flow.get("rate", 1000)
            times = self.sent[str(flow["flow"])]
            senders = self.senders[str(flow["flow"])]
            while start + len(times) * period <= now:
                seq = len(times)
                stamp = time.time_ns()
                payload = HEAD.pack(MAGIC, flow["flow"], seq, stamp).ljust(self.size, b"\0")
                try:
                    senders[seq % len(senders)].sendto(payload, (flow["dst"], self.port))
                except OSError as error:  # no route/neighbour while a bond has no slave: a lost probe
                    if len(self.errors) < 20:
                        self.errors.append(f"{flow['dst']}: {error.strerror}")
                times.append(stamp)
                now = time.time_ns()
            nxt = min(nxt, start + len(times) * period - now)
        return nxt

    def run(self) -> None:
        poller = select.poll()
        stdin = sys.stdin.fileno()
        os.set_blocking(stdin, False)
        for fd in [stdin, self.rx.fileno(), *self.tap_socks, *([self.nl.fileno()] if self.nl else [])]:
            poller.register(fd, select.POLLIN)
        print("ready", flush=True)
        start = time.time_ns()
        stop_at = None
        pending = b""
        while True:
            now = time.time_ns()
            wait_ns = min(self._send_due(start, now), 50_000_000) if self.sending else 50_000_000
            if stop_at is not None:
                if now >= stop_at:
                    break
                wait_ns = min(wait_ns, stop_at - now)
            for fd, _ev in poller.poll(max(0, wait_ns) / 1e6):
                if fd == stdin:
                    chunk = os.read(stdin, 4096)
                    if not chunk:  # the runner went away: stop at once
                        stop_at = stop_at or time.time_ns()
                    pending += chunk
                    while b"\n" in pending:
                        line, pending = pending.split(b"\n", 1)
                        word = line.decode().strip()
                        if word == "stat":
                            counts = {flow: len(got) for flow, got in self.recv.items()}
                            print(json.dumps(counts), flush=True)
                        elif word == "stop":
                            self.sending = False
                            stop_at = time.time_ns() + int(self.spec.get("drain", 0.3) * 1e9)
                elif fd == self.rx.fileno():
                    self._drain_rx()
                elif fd in self.tap_socks:
                    self._drain_tap(*self.tap_socks[fd])
                elif self.nl and fd == self.nl.fileno():
                    self._drain_nl()
        self._drain_rx()
        for fd in list(self.tap_socks):
            if fd in self.tap_socks:
                self._drain_tap(*self.tap_socks[fd])
        record = {
            "start": start,
            "sent": self.sent,
            "recv": self.recv,
            "taps": self.taps,
            "errors": self.errors,
            "links": self.links,
        }
        if self.frames is not None:
            capture.dump(self.spec["capture"], self.frames)
        tmp = self.spec["out"] + ".tmp"
        with open(tmp, "w") as stream:
            json.dump(record, stream, separators=(",", ":"))
        os.replace(tmp, self.spec["out"])
        print("done", flush=True)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0]) as stream:
        spec = json.load(stream)
    try:
        helper = Helper(spec)
    except OSError as error:
        print(f"error {error}", flush=True)
        return 1
    helper.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
