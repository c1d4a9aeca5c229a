"""A run's results made without a kernel, through the runner's own code: the probe helpers' records (the
shape bondlab.traffic.helper writes: sent, recv, taps, links) of a pod whose active slave is cut, the bond
failing over ~100 ms later and the slave restored, fed to run.timeline.Timeline and run.runner._figures as
`bondlab run` feeds them; plus a failed and an errored scenario. The report tests render these."""

from __future__ import annotations

from pathlib import Path

from bondlab.model.steps import KINDS
from bondlab.run import runner
from bondlab.run.results import ScenarioResult, StepResult
from bondlab.run.timeline import Timeline
from bondlab.traffic import probes
from bondlab.traffic.linkevents import IFLA_EVENT_BONDING_FAILOVER
from bondlab.world.labstate import LabState
from bondlab.world.records import Cable, Peer, Pod

MS = 1_000_000
T0 = 1_790_000_000 * 1000 * MS  # CLOCK_REALTIME ns when the probes started
POD, BOND, SLAVES = "test-pod", "bond0", ("net1", "net2")
BOND_INDEX, SLAVE_INDEX = 5, {"net1": 3, "net2": 4}
FLOWS = (
    probes.Flow(1, POD, "gw", "ns-pod", "ns-gw", "10.0.0.1"),
    probes.Flow(2, "gw", POD, "ns-gw", "ns-pod", "10.0.0.2"),
)


def lab_state() -> LabState:
    cables = tuple(Cable(ifname, "node1/pf0", f"p{i}", vf=i) for i, ifname in enumerate(SLAVES))
    pod = Pod(
        1,
        f"default/{POD}",
        POD,
        "default",
        "node1",
        "ns-pod",
        "c1",
        "u1",
        bond=BOND,
        slaves=SLAVES,
        cables=cables,
        addresses={BOND: ("10.0.0.2/24",)},
    )
    peer = Peer("gw", "ns-gw", "sw0", ("10.0.0.1/24",))
    return LabState(Path("/nonexistent"), "report-fixture", "r1", peers=[peer], pods=[pod])


def garp_frame(ip: bytes) -> str:
    eth = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06"
    arp = b"\x00\x01\x08\x00\x06\x04\x00\x01" + b"\x02" * 6 + ip + b"\x00" * 6 + ip
    return (eth + arp).hex()


def link_row(ms: float, name: str, event: int = 0, mii=None, role=None, active=None) -> list:
    """One of probe.link_events' rows: a slave's (MII status, role) or the bond's (event, active slave)."""
    index = SLAVE_INDEX.get(name, BOND_INDEX)
    master = BOND_INDEX if name in SLAVE_INDEX else 0
    return [T0 + int(ms * MS), name, event, mii != 2, master, index, mii, role, active]


def records(end_ms: int, cut_ms: float, failover_ms: float, restore_ms: float) -> dict:
    """What the helpers of ns-pod, ns-gw and the fabric write: probes at 1000/s both ways, carried by net1
    until the cut and lost until the failover, by net2 after it; MII, failover and GARP on the way."""
    sent = [T0 + ms * MS for ms in range(end_ms)]
    got = [ms for ms in range(end_ms) if not cut_ms <= ms < failover_ms]
    recv = [(ms, sent[ms], sent[ms] + MS // 5) for ms in got]
    taps = [
        (
            f"{POD}/{'net1' if ms < cut_ms else 'net2'}",
            flow.src != POD,
            "p",
            flow.id,
            ms,
            sent[ms] + 50_000,
            "",
        )
        for flow in FLOWS
        for ms in got
    ]
    taps.append(
        (f"{POD}/net2", False, "arp", 0, 0, T0 + int((failover_ms + 0.4) * MS), garp_frame(b"\n\0\0\2"))
    )
    links = [
        link_row(cut_ms + 0.2, "net1", mii=None),  # carrier only: the veth's peer went down
        link_row(failover_ms - 1.5, "net1", mii=2, role=0),
        link_row(failover_ms, BOND, IFLA_EVENT_BONDING_FAILOVER, active=SLAVE_INDEX["net2"]),
        link_row(failover_ms + 0.3, "net1", mii=2, role=1),
        link_row(failover_ms + 0.3, "net2", mii=0, role=0),
        link_row(restore_ms + 61, "net1", mii=0, role=1),
    ]
    return {
        "ns-pod": {"sent": {"1": sent}, "recv": {"2": recv}, "taps": [], "links": links},
        "ns-gw": {"sent": {"2": sent}, "recv": {"1": recv}, "taps": [], "links": []},
        "fabric": {"sent": {}, "recv": {}, "taps": taps, "links": []},
    }


def run_result(
    name: str, cut_ms: float = 1000, outage_ms: float = 101, restore_ms: float = 2000
) -> ScenarioResult:
    """A passed cut-and-restore scenario's result, made by runner._figures from the helpers' records."""
    tl = Timeline(lab_state())
    tl.flows = list(FLOWS)
    taps = [probes.Tap("fabric", f"p{i}", f"{POD}/{slave}") for i, slave in enumerate(SLAVES)]
    tl.traffic = probes.Traffic(tl.flows, taps, "/nonexistent", started=T0, stopped=T0 + 3000 * MS)
    tl.traffic.records = records(3000, cut_ms, cut_ms + outage_ms, restore_ms)
    for index, (ms, kind, text) in enumerate(
        ((cut_ms, "cut", f"cut vf={POD}/net1"), (restore_ms, "restore", f"restore vf={POD}/net1"))
    ):  # each step starts 30 ms before it sends its link change (a loaded lab VM: up to ~200 ms)
        sr = StepResult(index, kind, text, f"{name}.yaml:{index + 5}", t=T0 + int((ms - 30) * MS))
        sr.failure = KINDS[kind].fails({})  # the cut (a restore is a repair)
        sr.done_at = T0 + int(ms * MS)
        tl.actions.append(sr)
    result = ScenarioResult(f"scenarios/{name}.yaml", name, plugin="bin/bond", status="passed", seconds=4.2)
    result.steps = list(tl.actions)
    runner._figures(tl, result)
    return result


def results() -> list:
    """Three scenarios: one passed (timeline), one failed (timeline, a message), one errored (none)."""
    failed = run_result("slow-failover", outage_ms=180)
    failed.status, failed.message = "failed", "outage: 180.0 ms > 150 ms after cut vf=test-pod/net1"
    broken = ScenarioResult(
        "scenarios/broken.yaml", "broken", plugin="bin/bond", message="broken.yaml:3: bad"
    )
    return [run_result("cut-active"), failed, broken]
