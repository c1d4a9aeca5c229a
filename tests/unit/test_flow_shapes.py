"""Flow shapes without a kernel: `packet:` templates parsed safely and validated (model.template), frames
built from them, sequence and time stamped into those bytes with the UDP checksum kept right (traffic.wire),
probes found in tagged and IPv6 frames, 802.1Q tags put back from PACKET_AUXDATA, the taps' BPF program
run by a small classic-BPF interpreter, and bad flows in scenario files as errors at their line."""

from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether

from bondlab import deploy
from bondlab.model import flows, scenario, template
from bondlab.model.template import TemplateError
from bondlab.model.yamlsrc import SourceError
from bondlab.traffic import probes, sessions, wire
from bondlab.util.paths import REPO
from tests.labfiles import swapped

PAYLOAD = wire.HEAD.pack(wire.MAGIC, 3, 0, 0).ljust(64, b"\0")


@pytest.mark.parametrize(
    "text, family, fields",
    [
        ("IP(tos=0x10)/UDP()", "ipv4", {"tos": 16}),
        ("IP(ttl=7, flags='DF')/UDP()", "ipv4", {"ttl": 7, "flags": "DF"}),
        ("IPv6(tc=0x20, fl=5)/UDP()", "ipv6", {"tc": 32, "fl": 5}),
        (" Dot1Q(prio=5) / IP() / UDP() ", "ipv4", {}),
    ],
)
def test_templates_parse_into_layers_and_fields(text, family, fields):
    got = template.parse(text)
    assert got.family == family
    assert got.fields("IPv6" if family == "ipv6" else "IP") == fields
    assert got.tagged == text.strip().startswith("Dot1Q")


@pytest.mark.parametrize(
    "text, said",
    [
        ("IP(tos=0x10)/", "not an expression"),
        ("__import__('os').system('true')", "expected a layer call"),
        ("IP(tos=__import__('os').getpid())/UDP()", "literals only"),
        ("IP(tos=x)/UDP()", "literals only"),
        ("Raw()/UDP()", "Raw: not a layer"),
        ("Ether()/IP()/UDP()", "the lab sets the Ethernet header"),
        ("IP(dst='10.0.0.1')/UDP()", "not settable in a template: the lab sets the addresses"),
        ("IP()/UDP(sport=5)", "the lab sets the ports"),
        ("IP(chksum=1)/UDP()", "the lab computes it"),
        ("Dot1Q(vlan=5)/IP()/UDP()", "the flow's `vlan:` sets it"),
        ("IP(tso=1)/UDP()", "IP has no field 'tso'"),
        ("IP('x')/UDP()", "keyword arguments only"),
        ("IP(**{'tos': 1})/UDP()", "keyword arguments only"),
        ("IP()", "expected [Dot1Q()/]IP()/UDP()"),
        ("UDP()/IP()", "expected [Dot1Q()/]IP()/UDP()"),
        ("IP()/IPv6()/UDP()", "expected [Dot1Q()/]IP()/UDP()"),
        ("IP.__class__()/UDP()", "expected a layer call"),
        ("IP(tos='high')/UDP()", "scapy cannot build it"),
        ("IP(tos=1000)/UDP()", "scapy cannot build it"),
    ],
)
def test_bad_templates_are_errors_that_say_why(text, said):
    with pytest.raises(TemplateError) as caught:
        template.parse(text)
    assert said in str(caught.value)


def test_a_built_frame_has_the_labs_headers_and_the_templates_fields():
    tpl = template.parse("Dot1Q(prio=5)/IP(tos=0x10)/UDP()")
    raw = template.build(tpl, "02:62:6c:01:00:01", "02:00:00:00:00:09", "10.0.0.1", "10.0.0.2", 20065, 47001,
                         PAYLOAD, vlan=42)  # fmt: skip
    frame = Ether(raw)
    assert frame.src == "02:62:6c:01:00:01" and frame[Dot1Q].vlan == 42 and frame[Dot1Q].prio == 5
    assert frame[IP].tos == 0x10 and frame[IP].src == "10.0.0.1" and frame[UDP].sport == 20065
    assert wire.probe_of(raw) == (3, 0, 0)


@pytest.mark.parametrize("text", ["IP(tos=0x10)/UDP()", "IPv6(fl=9)/UDP()", "Dot1Q()/IP()/UDP()"])
@pytest.mark.parametrize("seq, sent", [(0, 0), (1, 1_764_470_000_123_456_789), (0xFFFFFFFF, (1 << 64) - 1)])
def test_stamping_writes_seq_and_time_and_keeps_the_udp_checksum_right(text, seq, sent):
    tpl = template.parse(text)
    src, dst = ("fd00::1", "fd00::2") if tpl.family == "ipv6" else ("10.0.0.1", "10.0.0.2")
    vlan = 7 if tpl.tagged else 0
    args = ("02:00:00:00:00:01", "02:00:00:00:00:02", src, dst, 20000, 47001)
    frame = bytearray(template.build(tpl, *args, PAYLOAD, vlan=vlan))
    wire.stamp(frame, len(frame) - len(PAYLOAD), 0x12345678, 0xFFFF_0000_FFFF_0001)  # stamped before
    wire.stamp(frame, len(frame) - len(PAYLOAD), seq, sent)
    fresh = wire.HEAD.pack(wire.MAGIC, 3, seq, sent).ljust(64, b"\0")
    assert bytes(frame) == template.build(tpl, *args, fresh, vlan=vlan)  # scapy's own checksum
    assert wire.probe_of(bytes(frame)) == (3, seq, sent)


def test_probe_of_ignores_frames_that_are_not_probes():
    assert wire.probe_of(bytes(Ether() / IP() / UDP() / (b"BLP0" + bytes(20)))) is None
    assert wire.probe_of(bytes(Ether() / IPv6(nh=58) / b"x")) is None
    assert wire.probe_of(b"\xff" * 14) is None


def test_a_tag_beside_the_frame_goes_back_into_it():
    untagged = bytes(Ether(src="02:00:00:00:00:01") / IP() / UDP() / PAYLOAD)
    aux = wire.AUXDATA.pack(wire.TP_STATUS_VLAN_VALID | wire.TP_STATUS_VLAN_TPID_VALID, 0, 0, 0, 0,
                            (5 << 13) | 42, 0x8100)  # fmt: skip
    tagged = wire.with_tag(untagged, [(wire.SOL_PACKET, wire.PACKET_AUXDATA, aux)])
    assert Ether(tagged)[Dot1Q].vlan == 42 and Ether(tagged)[Dot1Q].prio == 5
    assert wire.probe_of(tagged) == (3, 0, 0)
    none = wire.AUXDATA.pack(0, 0, 0, 0, 0, 0, 0)
    assert wire.with_tag(untagged, [(wire.SOL_PACKET, wire.PACKET_AUXDATA, none)]) == untagged


def run_bpf(program: bytes, frame: bytes) -> int:
    """The classic BPF instructions bpf_program uses, interpreted: the accepted length (0: dropped)."""
    code = [struct.unpack("HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    pc = a = x = 0
    while True:
        op, jt, jf, k = code[pc]
        pc += 1
        if op == 0x28:  # ldh [k]
            a = int.from_bytes(frame[k : k + 2], "big")
        elif op == 0x30:  # ldb [k]
            a = frame[k]
        elif op == 0x48:  # ldh [x+k]
            a = int.from_bytes(frame[x + k : x + k + 2], "big")
        elif op == 0xB1:  # ldxb 4*([k]&0xf)
            x = 4 * (frame[k] & 0xF)
        elif op == 0x15:  # jeq #k
            pc += jt if a == k else jf
        elif op == 0x06:  # ret #k
            return k
        else:
            raise AssertionError(f"opcode {op:#x}")


@pytest.mark.parametrize(
    "frame, port, accepted",
    [
        (Ether() / IP() / UDP(dport=47001) / PAYLOAD, 47001, True),
        (Ether() / IP() / UDP(dport=47002) / PAYLOAD, 47001, False),
        (Ether() / IP() / UDP(dport=47001) / PAYLOAD, 0, False),
        (Ether() / IPv6() / UDP(dport=47001) / PAYLOAD, 47001, True),
        (Ether() / IPv6() / UDP(dport=47001) / PAYLOAD, 0, False),  # a peer's tap: no IPv6 probes
        (Ether() / IPv6(nh=58) / b"\x88\x00", 0, True),  # ND: told apart in userspace
        (Ether() / IPv6(nh=6) / (b"x" * 20), 47001, False),
        (Ether(type=0x0806) / (b"x" * 28), 0, True),
        (Ether(type=0x8809) / (b"x" * 28), 0, True),
        (Ether() / Dot1Q(vlan=5) / IP() / UDP(dport=47001) / PAYLOAD, 47001, True),
        (Ether() / Dot1Q(vlan=5) / IP() / UDP(dport=47001) / PAYLOAD, 0, False),
        (Ether() / IP() / (b"x" * 20), 47001, False),
    ],
)
def test_the_taps_bpf_program(frame, port, accepted):
    assert bool(run_bpf(wire.bpf_program(port), bytes(frame))) == accepted


# -- flows in scenario files: errors at the flow's line ------------------------------------------------
def scenario_text(tmp_path, name: str, old: str, new: str) -> str:
    return swapped(REPO / "scenarios" / "traffic" / f"{name}.yaml", old, new, tmp_path / "s.yaml").read_text()


def load_error(tmp_path, text: str, names: bool = False) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(SourceError) as caught:
        scen = scenario.load(str(path))
        if names:
            scenario.check_names(scen, deploy.prepare(scen.documents, backend=scen.backend))
    return str(caught.value)


def flow_line(text: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if "flows:" in line)


@pytest.mark.parametrize(
    "new, said",
    [
        (
            'packet: "IP(tos=0x10)/UDP(dport=53)"',
            "spec.traffic.flows[0].packet: packet 'IP(tos=0x10)/UDP(dport=53)'",
        ),
        ("packet: \"open('/etc/passwd')\"", "open: not a layer a template may use"),
        (
            'family: ipv6, packet: "IP()/UDP()"',
            "flows[0].family: family ipv6, but the packet template is ipv4",
        ),
        ('packet: "Dot1Q()/IP()/UDP()"', "a Dot1Q layer needs the flow's `vlan: ID`"),
        ('macs: 8, packet: "IP()/UDP()"', "flows[0].macs: macs 8 > sessions 4"),
        ('vlan: 4095, packet: "IP()/UDP()"', "must be at most 4094"),
        ('family: ip6, packet: "IP()/UDP()"', "expected one of ipv4, ipv6"),
    ],
)
def test_a_bad_flow_shape_is_an_error_at_its_line(tmp_path, new, said):
    text = scenario_text(tmp_path, "packet-template", 'packet: "IP(tos=0x10, ttl=9)/UDP()"', new)
    got = load_error(tmp_path, text)
    assert got.startswith(f"{tmp_path}/s.yaml:{flow_line(text)}: Scenario packet-template: "), got
    assert said in got, got


def test_ipv6_where_the_ipam_gives_ipv4_only_is_an_error_at_the_flows_line(tmp_path):
    text = scenario_text(
        tmp_path,
        "ipv6",
        '"ranges": [[{"subnet": "10.56.217.0/24", "gateway": "10.56.217.1"}],\n'
        '             [{"subnet": "fd00:56:217::/64", "gateway": "fd00:56:217::1"}]]',
        '"subnet": "10.56.217.0/24", "gateway": "10.56.217.1"',
    )
    got = load_error(tmp_path, text, names=True)
    assert got.startswith(
        f"{tmp_path}/s.yaml:{flow_line(text)}: Scenario ipv6: spec.traffic.flows[0].family"
    ), got
    assert "family ipv6: test-pod's IPAM (bond0) gives IPv4 only (10.56.217.0/24)" in got, got


def test_the_library_flows_load():
    for path in sorted((REPO / "scenarios" / "traffic").glob("*.yaml")):
        scen = scenario.load(str(path))
        scenario.check_names(scen, deploy.prepare(scen.documents, backend=scen.backend))


# -- a flow's sessions and what its helpers are told ---------------------------------------------------
def shaped_flow(**fields):
    shape = flows.shape({"from": "a", "to": "b", **fields})
    flow = probes.Flow(3, "a", "b", "ns-a", "ns-b", "10.0.0.2", 1000, shape, "10.0.0.1", "bond0", "eth0")
    path = {"src_mac": "4a:00:00:00:00:01", "dst_mac": "4a:00:00:00:00:02", "src_ip": "10.0.0.1"}
    flow.session_addresses = sessions.plan(flow, path)
    return flow


def test_sessions_have_their_ports_macs_and_tag():
    flow = shaped_flow(sessions=4, macs=2, vlan=9)
    got = [(s.src_mac, s.sport, s.vlan) for s in flow.session_addresses]
    assert got == [
        ("4a:00:00:00:00:01", 20192, 9),
        ("02:62:6c:03:00:01", 20193, 9),
        ("4a:00:00:00:00:01", 20194, 9),
        ("02:62:6c:03:00:01", 20195, 9),
    ]
    assert {(s.dst_mac, s.src_ip, s.dst_ip, s.dport) for s in flow.session_addresses} == {
        ("4a:00:00:00:00:02", "10.0.0.1", "10.0.0.2", wire.PORT)
    }


def test_a_shaped_flow_sends_its_frames_and_a_tagged_one_is_listened_for():
    flow = shaped_flow(sessions=2, macs=2, vlan=9, packet="Dot1Q(prio=3)/IP(tos=4)/UDP()")
    entry = flow.helper_entry()
    assert entry["ifname"] == "bond0" and len(entry["frames"]) == 2
    first = Ether(bytes.fromhex(entry["frames"][0]))
    assert first[Dot1Q].vlan == 9 and first[Dot1Q].prio == 3 and first[IP].tos == 4
    assert entry["at"] == len(bytes(first)) - 64 and wire.probe_of(bytes(first)) == (3, 0, 0)
    assert probes.listens([flow]) == [{"ifname": "eth0", "flows": [3]}]
    plain = shaped_flow(sessions=2)
    assert "frames" not in plain.helper_entry() and probes.listens([plain]) == []
