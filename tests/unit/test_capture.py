"""The run's pcapng (traffic.pcapng): the helper's frame file read back, and the pcapng scapy writes read back
by scapy: one named interface per tap, directions, timestamps, a comment at each action (no root)."""

from __future__ import annotations

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.utils import rdpcap

from bondlab.traffic import frames, pcapng

T0 = 1_700_000_000_000_000_000


def test_frames_round_trip_through_the_helpers_file_and_the_pcapng(tmp_path):
    probe = bytes(Ether() / IP(dst="10.0.0.1") / UDP(dport=47001) / b"BLP1")
    garp = bytes(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(psrc="10.0.0.2", pdst="10.0.0.2"))
    kept = [(T0 + 3_000, 1, True, probe), (T0 + 1_000, 0, False, garp), (T0 + 2_000, 0, False, probe)]
    pcapng.dump(str(tmp_path / "ns.cap"), kept)
    labels = ["test-pod/net1", "peer gw"]
    loaded = pcapng.load(str(tmp_path / "ns.cap"), labels)
    assert loaded[0] == (T0 + 3_000, "peer gw", True, probe) and len(loaded) == 3

    marks = [(T0 + 1_500, "step 2 (line 9): cut vf=test-pod/net1"), (T0 + 9_000, "step 3: after all")]
    out = str(tmp_path / "run.pcapng")
    assert pcapng.write(out, loaded, marks) == 3
    packets = rdpcap(out)
    assert [p.sniffed_on for p in packets] == ["test-pod/net1", "test-pod/net1", "peer gw"]
    assert [p.direction for p in packets] == [pcapng.INBOUND, pcapng.INBOUND, pcapng.OUTBOUND]
    assert [round(float(p.time) * 1e6) for p in packets] == [(T0 + k * 1000) // 1000 for k in (1, 2, 3)]
    assert packets[1].comments == [b"step 2 (line 9): cut vf=test-pod/net1"]
    assert packets[2].comments == [b"step 3: after all"]  # a mark after every frame: on the last one
    assert bytes(packets[0]) == garp and packets[0][ARP].psrc == packets[0][ARP].pdst
    # the frames the checks dissect are found again in the capture
    taps = [(p.sniffed_on, False, "arp", 0, 0, 0, bytes(p).hex()) for p in packets if ARP in p]
    assert frames.notices(taps, "test-pod/net1", 0, "garp") == [0]


def test_each_action_is_marked_where_it_starts_and_where_it_sent_its_link_change():
    from bondlab.run.results import StepResult
    from bondlab.run.runner import action_marks

    steps = [
        StepResult(0, "expect", "expect activeSlave", "s.yaml:7", t=10, ok=True),
        StepResult(1, "cut", "cut vf=test-pod/net1", "s.yaml:8", t=20, done_at=25),
        StepResult(2, "wait", "wait 300ms", "s.yaml:9", t=30),
    ]
    assert action_marks(steps) == [
        (20, "step 2 (line 8): cut vf=test-pod/net1"),
        (25, "step 2: first link change sent"),
        (30, "step 3 (line 9): wait 300ms"),
    ]
