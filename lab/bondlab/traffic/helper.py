"""The traffic helper: one long-lived process per network namespace (`ip netns exec NS python -m
bondlab.traffic.helper SPEC.json`), started before a scenario's timeline and stopped after it.

It does three things in one poll loop, with the stdlib only (no scapy on the hot path):
- sends sequence-numbered, timestamped UDP probes to each of its flows' destinations at a fixed rate
  (default 1000/s; the schedule is absolute, so a stalled sender shows as a gap, never as drift); a flow
  of N `sessions` sends probe seq on session seq % N (N 5-tuples for the bond's hash, round-robin, the
  same every run). A plain flow is kernel UDP (IPv4 or IPv6) from source port wire.session_port(flow,
  session); a flow with frames of its own (a `packet:` template, `macs:`, `vlan:`) gets them built by
  the runner, one per session, and sends them on its interface's AF_PACKET socket, sequence and send time
  stamped in (traffic.wire.stamp);
- receives every probe sent to it, with the kernel's receive timestamp (SO_TIMESTAMPNS): on UDP sockets,
  and for 802.1Q-tagged flows (which no VLAN device here takes in) off the interface (`listen`);
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
scheduler stalls shows as a stall in its window and is judged as such (traffic.rules.outage).

With `capture` (a path) in its spec it keeps every tapped frame (kernel timestamp, tap, direction, bytes)
and writes them there when it stops, for the run's pcapng (traffic.pcapng).

Control on stdin, one word per line: `stat` prints a JSON line of delivered counts per flow; `stop` stops
sending, keeps receiving for `drain` seconds, writes the record to `out` and prints `done`.
Payload: magic b"BLP1", flow id (u16), seq (u32), send time (u64 ns), padding to `size` bytes.
"""

from __future__ import annotations

import errno
import json
import os
import select
import socket
import sys
import time

from bondlab.traffic import linkevents, pcapng, wire  # stdlib only

PACKET_OUTGOING = 4


class Helper:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.port = spec.get("port", wire.PORT)
        self.size = max(wire.HEAD.size, spec.get("size", 64))
        self.flows = spec.get("send", [])
        self.sent = {str(f["flow"]): [] for f in self.flows}
        # probes the kernel refused at send: flow -> [[seq, errno]] (traffic.window tells the lab's own full
        # buffer from the network's no-route)
        self.unsent: dict = {str(f["flow"]): [] for f in self.flows}
        self.recv: dict = {}
        self.taps: list = []  # [tap label, outgoing?, kind, flow, seq, ts, extra]
        self.sending = True
        self.rx = [self._receiver(family) for family in (socket.AF_INET, socket.AF_INET6)]
        self.rx = [sock for sock in self.rx if sock]
        self.raw_out: dict = {}  # ifname -> AF_PACKET socket the flows with frames of their own send on
        # ifname -> the frames that send from its own MAC: when its MAC changes (failOverMac active moves
        # the slave's MAC to the bond), they follow it, as the kernel's own frames do
        self.own_mac: dict = {}
        self.next_hop: dict = {}  # the next hop's address (bytes) -> the frames sent to its MAC
        # per flow, one sender per session: probe seq goes out on sender seq % sessions
        self.senders = {str(f["flow"]): self._senders(f) for f in self.flows}
        self.tap_socks: dict = {}
        self._filters = []
        # every tapped frame, for the run's pcapng (traffic.pcapng), when the runner asks for one
        self.frames = [] if spec.get("capture") else None
        self.tap_index = {tap["label"]: i for i, tap in enumerate(spec.get("taps", []))}
        for tap in spec.get("taps", []):
            sock, kept = wire.frame_socket(tap["ifname"], 0 if tap.get("neighbour_only") else self.port)
            self._filters.append(kept)
            self.tap_socks[sock.fileno()] = (sock, tap["label"])
        # flows whose probes the kernel does not deliver to a socket (802.1Q tagged: no VLAN device here),
        # read off the interface instead
        self.listens: dict = {}
        for listen in spec.get("listen", []):
            sock, kept = wire.frame_socket(listen["ifname"], self.port)
            self._filters.append(kept)
            self.listens[sock.fileno()] = (sock, set(listen["flows"]))
        self.errors: list = []
        self.links: list = []  # linkevents.link_events' rows
        self.nl = None
        if spec.get("links"):
            self.nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)  # NETLINK_ROUTE
            wire.big_buffer(self.nl)
            self.nl.bind((0, linkevents.RTMGRP_LINK | linkevents.RTMGRP_NEIGH))
            self.nl.setblocking(False)

    def _receiver(self, family: int):
        try:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            wire.big_buffer(sock)
            sock.setsockopt(socket.SOL_SOCKET, wire.SO_TIMESTAMPNS, 1)
            sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", self.port))
        except OSError:  # no IPv6 in this netns: IPv4 only
            return None
        sock.setblocking(False)
        return sock

    def _senders(self, flow: dict) -> list:
        """Callables (seq, send time) -> None, one per session. A flow with `frames` (hex, one per session,
        built by the runner from its template) sends them on its interface's AF_PACKET socket, stamped;
        the others are kernel UDP from fixed source ports wire.session_port(flow, session) (the hash of
        each 5-tuple, so which slave, is the same every run)."""
        fid = flow["flow"]
        if flow.get("frames"):
            ifname, at = flow["ifname"], flow["at"]
            if ifname not in self.raw_out:
                self.raw_out[ifname] = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # send only
                self.raw_out[ifname].bind((ifname, 0))
                self.raw_out[ifname].setblocking(False)
            sock = self.raw_out[ifname]

            def raw(frame: bytearray):
                def send(seq: int, sent: int) -> None:
                    wire.stamp(frame, at, seq, sent)
                    sock.send(frame)

                return send

            frames = [bytearray.fromhex(frame) for frame in flow["frames"]]
            self.own_mac.setdefault(ifname, []).extend(frames[i] for i in flow.get("own_mac", []))
            hop = flow.get("next_hop", "").split("%")[0]  # a link-local gateway may carry its scope
            if hop:
                family = socket.AF_INET6 if ":" in hop else socket.AF_INET
                self.next_hop.setdefault(socket.inet_pton(family, hop), []).extend(frames)
            return [raw(frame) for frame in frames]
        family = socket.AF_INET6 if flow.get("family") == 6 else socket.AF_INET
        wildcard = "::" if family == socket.AF_INET6 else "0.0.0.0"
        to = (flow["dst"], self.port)

        def kernel(sock: socket.socket):
            def send(seq: int, sent: int) -> None:
                sock.sendto(wire.HEAD.pack(wire.MAGIC, fid, seq, sent).ljust(self.size, b"\0"), to)

            return send

        out = []
        for i in range(flow.get("sessions", 1)):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.bind((wildcard, wire.session_port(fid, i)))
            sock.setblocking(False)
            out.append(kernel(sock))
        return out

    def _readers(self) -> dict:
        """fd -> what drains it: the probe sockets, the taps and listens still open, rtnetlink."""
        out = {sock.fileno(): lambda sock=sock: self._drain_rx(sock) for sock in self.rx}
        out.update({fd: lambda a=args: self._drain_tap(*a) for fd, args in self.tap_socks.items()})
        out.update({fd: lambda a=args: self._drain_listen(*a) for fd, args in self.listens.items()})
        if self.nl:
            out[self.nl.fileno()] = self._drain_nl
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
            rows = linkevents.link_events(data, time.time_ns())
            self.links += rows
            for row in rows:
                ifname, mac = row[1], row[9]
                if mac and len(mac) == 12:  # an Ethernet address (hex)
                    for frame in self.own_mac.get(ifname, ()):
                        frame[6:12] = bytes.fromhex(mac)
            for hop, mac in linkevents.neighbours(data):
                for frame in self.next_hop.get(hop, ()):
                    frame[0:6] = mac

    # -- receive ---------------------------------------------------------------------------------
    def _drain_rx(self, sock: socket.socket) -> None:
        while True:
            try:
                data, anc, _flags, _addr = sock.recvmsg(2048, 64)
            except BlockingIOError:
                return
            if len(data) < wire.HEAD.size or data[:4] != wire.MAGIC:
                continue
            _m, flow, seq, sent = wire.HEAD.unpack_from(data)
            self.recv.setdefault(str(flow), []).append((seq, sent, wire.kernel_ns(anc)))

    def _frames_of(self, sock: socket.socket):
        """(data with its 802.1Q tag, kernel ns, outgoing?) of every frame waiting on an AF_PACKET socket;
        a deleted interface closes it (its poll ends), a cut one keeps it (it sees the port come back)."""
        while True:
            try:
                data, anc, _flags, addr = sock.recvmsg(2048, 256)
            except BlockingIOError:
                return
            except OSError as error:
                if error.errno in (errno.ENODEV, errno.ENXIO):
                    self.tap_socks.pop(sock.fileno(), None)
                    self.listens.pop(sock.fileno(), None)
                return  # ENETDOWN while the port is cut
            yield wire.with_tag(data, anc), wire.kernel_ns(anc), addr[2] == PACKET_OUTGOING

    def _drain_listen(self, sock: socket.socket, flows: set) -> None:
        for data, ts, out in self._frames_of(sock):
            probe = None if out else wire.probe_of(data)
            if probe and probe[0] in flows:
                self.recv.setdefault(str(probe[0]), []).append((probe[1], probe[2], ts))

    def _drain_tap(self, sock: socket.socket, label: str) -> None:
        for data, ts, out in self._frames_of(sock):
            if self.frames is not None:
                self.frames.append((ts, self.tap_index[label], out, data))
            probe = wire.probe_of(data)
            if probe:
                self.taps.append((label, out, "p", probe[0], probe[1], ts, ""))
                continue
            etype = int.from_bytes(data[12:14], "big")
            if etype in (0x0806, 0x8809) or (etype == 0x86DD and len(data) > 54 and data[20] == 58):
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
                sent = time.time_ns()
                try:
                    senders[seq % len(senders)](seq, sent)
                except OSError as error:  # no route/neighbour while a bond has no slave: a lost probe
                    self.unsent[str(flow["flow"])].append([seq, error.errno])
                times.append(sent)
                now = time.time_ns()
            nxt = min(nxt, start + len(times) * period - now)
        return nxt

    def run(self) -> None:
        poller = select.poll()
        stdin = sys.stdin.fileno()
        os.set_blocking(stdin, False)
        for fd in [stdin, *self._readers()]:
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
                elif fd in self._readers():
                    self._readers()[fd]()
        for drain in self._readers().values():
            drain()
        record = {
            "start": start,
            "sent": self.sent,
            "recv": self.recv,
            "taps": self.taps,
            "unsent": self.unsent,
            "errors": self.errors,
            "links": self.links,
        }
        if self.frames is not None:
            pcapng.dump(self.spec["capture"], self.frames)
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
