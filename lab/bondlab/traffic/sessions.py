"""The sessions of a flow as the wire sees them: per session its MACs, addresses, ports and 802.1Q tag
(Session, kept on probes.Flow.session_addresses: what a bond's xmit_hash_policy hashes), resolved from the
source's route and neighbour table once traffic can flow (run.reader.Reader.resolve); and for a flow
with frames of its own (model.flows.Shape.own_frames) the frames, built once per session with scapy before
the run, that the probe helper stamps and sends (traffic.wire).

Source MACs: session i sends from MAC i % macs; MAC 0 is the interface's own, MAC k > 0 the locally
administered 02:62:6c:FLOW:00:K ("bl"), the same every run. A bond has one MAC, so the others are frames
the pod's kernel never made: they leave through the bond as its own do (bond_start_xmit hashes the frame it
is given) and the switch learns them; a VF with spoofchk on drops them, as a NIC does, and balance-tlb/alb
rewrite the source MAC of what they balance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bondlab.model import template
from bondlab.traffic import wire

PROBE_SIZE = 64  # bytes of probe payload (traffic.helper's default `size`)


@dataclass(frozen=True)
class Session:
    index: int
    src_mac: str
    dst_mac: str  # the next hop's (the destination's on one subnet)
    src_ip: str
    dst_ip: str
    sport: int
    dport: int
    vlan: int = 0  # 802.1Q tag on the frames, 0: none
    family: str = "ipv4"
    next_hop: str = ""  # whose MAC dst_mac is (the destination on one subnet, else the gateway)

    def as_dict(self) -> dict:
        return asdict(self)


def spoofed_mac(flow: int, k: int) -> str:
    return f"02:62:6c:{flow & 0xFF:02x}:{k >> 8 & 0xFF:02x}:{k & 0xFF:02x}"


def plan(flow, path: dict) -> list:
    """flow's sessions (probes.Flow with its Shape) from the source's path (run.reader.Reader.resolve)."""
    shape = flow.shape
    src_ip = path.get("src_ip") or flow.src_ip
    return [
        Session(
            index=i,
            src_mac=path["src_mac"] if i % shape.macs == 0 else spoofed_mac(flow.id, i % shape.macs),
            dst_mac=path["dst_mac"],
            src_ip=src_ip,
            dst_ip=flow.dst_ip,
            sport=wire.session_port(flow.id, i),
            dport=wire.PORT,
            vlan=shape.vlan,
            family=shape.family,
            next_hop=path.get("next_hop") or "",
        )
        for i in range(shape.sessions)
    ]


def frames(flow) -> dict:
    """The helper's `send` entry fields for a flow with frames of its own: one frame per session (hex), the
    interface, where the probe payload starts."""
    payload = wire.HEAD.pack(wire.MAGIC, flow.id, 0, 0).ljust(PROBE_SIZE, b"\0")
    tpl = flow.shape.frame_template
    built = [
        template.build(tpl, s.src_mac, s.dst_mac, s.src_ip, s.dst_ip, s.sport, s.dport, payload, vlan=s.vlan)
        for s in flow.session_addresses
    ]
    own = [i for i, s in enumerate(flow.session_addresses) if s.index % flow.shape.macs == 0]
    return {
        "frames": [f.hex() for f in built],
        "ifname": flow.src_if,
        "at": len(built[0]) - PROBE_SIZE,
        # the helper keeps the frames' MACs as the kernel keeps its own frames': the source follows the
        # interface's MAC in the sessions that send from it, the destination the next hop's neighbour entry
        "own_mac": own,
        "next_hop": flow.session_addresses[0].next_hop,
    }
