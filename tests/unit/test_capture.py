"""The run's pcapng (run.capture): the helper's frame file read back, and the pcapng scapy writes read back
by scapy: one named interface per tap, directions, timestamps, a comment at each action (no root)."""

from __future__ import annotations

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.utils import rdpcap

from bondlab.run import capture, traffic

T0 = 1_700_000_000_000_000_000


def test_frames_round_trip_through_the_helpers_file_and_the_pcapng(tmp_path):
    probe = bytes(Ether() / IP(dst="10.0.0.1") / UDP(dport=47001) / b"BLP1")
    garp = bytes(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(psrc="10.0.0.2", pdst="10.0.0.2"))
    frames = [(T0 + 3_000, 1, True, probe), (T0 + 1_000, 0, False, garp), (T0 + 2_000, 0, False, probe)]
    capture.dump(str(tmp_path / "ns.cap"), frames)
    labels = ["test-pod/net1", "peer gw"]
    loaded = capture.load(str(tmp_path / "ns.cap"), labels)
    assert loaded[0] == (T0 + 3_000, "peer gw", True, probe) and len(loaded) == 3

    marks = [(T0 + 1_500, "step 2 (line 9): cut vf=test-pod/net1"), (T0 + 9_000, "step 3: after all")]
    out = str(tmp_path / "run.pcapng")
    assert capture.write(out, loaded, marks) == 3
    packets = rdpcap(out)
    assert [p.sniffed_on for p in packets] == ["test-pod/net1", "test-pod/net1", "peer gw"]
    assert [p.direction for p in packets] == [capture.INBOUND, capture.INBOUND, capture.OUTBOUND]
    assert [round(float(p.time) * 1e6) for p in packets] == [(T0 + k * 1000) // 1000 for k in (1, 2, 3)]
    assert packets[1].comments == [b"step 2 (line 9): cut vf=test-pod/net1"]
    assert packets[2].comments == [b"step 3: after all"]  # a mark after every frame: on the last one
    assert bytes(packets[0]) == garp and packets[0][ARP].psrc == packets[0][ARP].pdst
    # the frames the checks dissect are found again in the capture
    taps = [(p.sniffed_on, False, "arp", 0, 0, 0, bytes(p).hex()) for p in packets if ARP in p]
    assert traffic.notices(taps, "test-pod/net1", 0, "garp") == [0]
