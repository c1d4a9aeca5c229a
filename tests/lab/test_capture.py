"""A run's pcapng on a real kernel: `num-grat-arp-minus-one` run with capture "all" leaves
<scenario>.pcapng with one interface per tap (both slaves' switch ports with the probes they carried, the
peer with its ARP/ND), the actions as comments,
and exactly the gratuitous ARPs and unsolicited NAs the runner counted, found again by scapy in the file
(and read by tcpdump when the lab VM has it)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from scapy.layers.inet6 import ICMPv6ND_NA
from scapy.layers.l2 import ARP
from scapy.utils import rdpcap

from bondlab.run.runner import Capture
from bondlab.traffic import pcapng
from bondlab.util.paths import REPO
from tests.labfiles import run_file

pytestmark = pytest.mark.kernel


def test_a_run_with_capture_all_writes_a_pcapng_scapy_and_tcpdump_read(tmp_path, lab_state, untouched):
    path = REPO / "scenarios" / "pitfalls" / "num-grat-arp-minus-one.yaml"
    got = run_file(str(path), capture=Capture("all", str(tmp_path)))
    assert got.status == "passed", got.message
    assert got.capture == "num-grat-arp-minus-one.pcapng"
    packets = rdpcap(str(tmp_path / got.capture))
    per_tap: dict = {}
    for p in packets:
        per_tap[p.sniffed_on] = per_tap.get(p.sniffed_on, 0) + 1
    assert set(per_tap) == {"test-pod/net1", "test-pod/net2", "peer gw"}, per_tap
    assert per_tap["test-pod/net1"] > 100 and per_tap["test-pod/net2"] > 100, per_tap  # probes at the ports
    comments = [c.decode() for p in packets for c in p.comments or []]
    assert any("cut vf=test-pod/net1" in c for c in comments), comments
    cut = next(s for s in got.steps if s.kind == "cut").done_at / 1e9
    heard = [p for p in packets if p.sniffed_on == "peer gw" and p.direction == pcapng.INBOUND]
    garps = [p for p in heard if ARP in p and p[ARP].psrc == p[ARP].pdst and float(p.time) >= cut]
    nas = [p for p in heard if ICMPv6ND_NA in p and not p[ICMPv6ND_NA].S and float(p.time) >= cut]
    said = next(s.message for s in got.steps if "garp" in s.message)
    assert len(garps) == len(nas) == 4 and "garp: 4 gratuitous ARP(s)" in said, (len(garps), len(nas), said)
    if shutil.which("tcpdump"):
        out = subprocess.run(
            ["tcpdump", "-n", "-r", str(tmp_path / got.capture), "arp"], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        assert sum("Request who-has" in line or "Reply" in line for line in out.stdout.splitlines()) >= 4
