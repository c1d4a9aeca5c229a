"""`bondlab bench probe`: the probe helper's send schedule, per flow shape: kernel UDP and frames built from
`packet:` templates, with 1 or 16 sessions (and source MACs), tagged or not.

Two throwaway netns joined by a veth pair (marked, removed on any exit), a probe helper in each
(traffic.probes, as a scenario starts them: the receiver works too, on the same CPU); each shape sends one
flow at RATE/s for SECONDS. Figures from the sender's own send timestamps: achieved rate, the p50/p99 gap
between two sends, the longest stall, and the probes delivered of those sent once both helpers were up;
before them, what one probe costs to stamp and to build with scapy. Figures, not asserts.
"""

from __future__ import annotations

import secrets
import tempfile
import time

from bondlab.model import flows
from bondlab.traffic import probes, sessions
from bondlab.util import names, stats
from bondlab.util.undo import Undo
from bondlab.world import netns

SHAPES = {  # label -> flow mapping fields (model.flows)
    "kernel UDP, 1 session": {},
    "kernel UDP, 16 sessions": {"sessions": 16},
    "template IP(tos=0x10)/UDP(), 1 session": {"packet": "IP(tos=0x10)/UDP()"},
    "template, 16 sessions, 16 MACs": {"packet": "IP(tos=0x10)/UDP()", "sessions": 16, "macs": 16},
    "template Dot1Q/IP/UDP, vlan 100, 16 sessions": {
        "packet": "Dot1Q(prio=5)/IP()/UDP()",
        "vlan": 100,
        "sessions": 16,
    },
}
SRC, DST = "10.99.0.1", "10.99.0.2"


def pair(undo: Undo) -> tuple:
    """Two marked netns joined by veth a0 (SRC) - b0 (DST); (sender ns, receiver ns, a0's MAC, b0's)."""
    mark = names.OWNER_MARK + "bench" + secrets.token_hex(3)
    a, b = netns.create_many(undo, ["bench-a", "bench-b"], mark)
    netns.batch(
        a.name,
        [
            f"link add a0 type veth peer name b0 netns {b.name}",
            f"link set a0 alias {mark}",
            "link set a0 up",
            f"addr add {SRC}/24 dev a0",
        ],
    )
    netns.batch(b.name, [f"link set b0 alias {mark}", "link set b0 up", f"addr add {DST}/24 dev b0"])
    return a, b, a.link("a0")["address"], b.link("b0")["address"]


def measure(a, b, macs: tuple, fields: dict, rate: int, seconds: float) -> dict:
    shape = flows.shape({"from": "a", "to": "b", **fields})
    flow = probes.Flow(1, "a", "b", a.name, b.name, DST, rate, shape, SRC, "a0", "b0")
    flow.session_addresses = sessions.plan(flow, {"src_mac": macs[0], "dst_mac": macs[1], "src_ip": SRC})
    with tempfile.TemporaryDirectory(prefix="bondlab-bench-probe-") as workdir:
        run = probes.Traffic([flow], [], workdir)
        run.start()
        try:
            time.sleep(seconds)  # the measurement window itself, not a wait for state
            run.stop()
        finally:
            run.kill()
    sent = run.sent(flow)
    gaps = [(y - x) / 1e6 for x, y in zip(sent, sent[1:])]
    # probes sent once both helpers were up (frames sent raw need no ARP, so the first ones can reach the
    # receiver before its socket is bound, as in a scenario before its first window)
    counted = {seq for seq, t in enumerate(sent) if t >= run.started}
    return {
        "rate": len(sent) / ((sent[-1] - sent[0]) / 1e9) if len(sent) > 1 else 0.0,
        "p50": stats.percentile(gaps, 50) if gaps else 0.0,
        "p99": stats.percentile(gaps, 99) if gaps else 0.0,
        "stall": max(gaps, default=0.0),
        "sent": len(counted),
        "delivered": len({seq for seq, _s, _r in run.received(flow)} & counted),
    }


def per_probe_costs(count: int = 2000) -> tuple:
    """(us to stamp a built frame, us to build one with scapy), in this process."""
    from bondlab.model import template
    from bondlab.traffic import wire

    tpl = template.parse("IP(tos=0x10)/UDP()")
    args = ("02:00:00:00:00:01", "02:00:00:00:00:02", SRC, DST, 20000, wire.PORT)
    payload = wire.HEAD.pack(wire.MAGIC, 1, 0, 0).ljust(sessions.PROBE_SIZE, b"\0")
    frame = bytearray(template.build(tpl, *args, payload))
    started = time.perf_counter()
    for seq in range(count):
        wire.stamp(frame, len(frame) - sessions.PROBE_SIZE, seq, time.time_ns())
    stamp_us = (time.perf_counter() - started) / count * 1e6
    started = time.perf_counter()
    for seq in range(count // 20):
        template.build(tpl, *args, wire.HEAD.pack(wire.MAGIC, 1, seq, time.time_ns()).ljust(64, b"\0"))
    return stamp_us, (time.perf_counter() - started) / (count // 20) * 1e6


def bench(rate: int = 1000, seconds: float = 3.0) -> int:
    stamp_us, build_us = per_probe_costs()
    print(f"per probe: stamping a built frame {stamp_us:.1f} us, building one with scapy {build_us:.0f} us")
    print(f"probe helper, one flow at {rate}/s for {seconds:g} s per shape (veth between two netns)")
    print(f"{'shape':<46} {'sends/s':>8} {'gap p50 ms':>10} {'p99 ms':>7} {'max stall ms':>12} delivered")
    with Undo() as undo:
        a, b, *macs = pair(undo)
        for label, fields in SHAPES.items():
            got = measure(a, b, tuple(macs), fields, rate, seconds)
            print(
                f"{label:<46} {got['rate']:>8.0f} {got['p50']:>10.3f} {got['p99']:>7.3f} "
                f"{got['stall']:>12.3f} {got['delivered']}/{got['sent']}",
                flush=True,
            )
    return 0
