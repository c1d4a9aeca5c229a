"""Probe frames on the wire, for the probe helper (traffic.helper; stdlib only, no scapy on the hot path).

- the probe's payload (HEAD) and where it sits in a tapped frame: IPv4 or IPv6, 802.1Q tagged or not
  (probe_of);
- stamp(): sequence and send time written into a frame built once from a `packet:` template
  (model.template.build), the UDP checksum updated incrementally (RFC 1624): ~3 us where building the frame
  with scapy costs ~340 us;
- the tap's socket: its classic BPF filter (bpf_program), receive buffer, kernel timestamps, and the
  802.1Q tag the kernel moved out of the frame (PACKET_AUXDATA), put back so the capture shows it.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import time

PORT = 47001  # the probes' UDP destination port
SESSION_PORT = 20000  # + 64 * flow id + session: a flow's source ports, below the ephemeral range
MAGIC = b"BLP1"
HEAD = struct.Struct("!4sHIQ")  # magic, flow id, seq, send time (ns)
STAMP = struct.Struct("!IQ")  # seq and send time, at HEAD offset 6
SO_TIMESTAMPNS = 35
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
SOL_PACKET, PACKET_AUXDATA = 263, 8
AUXDATA = struct.Struct("=IIIHHHH")  # tpacket_auxdata: status, len, snaplen, mac, net, vlan_tci, vlan_tpid
TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID = 0x10, 0x40
ETH_P_8021Q = 0x8100


def session_port(flow: int, session: int) -> int:
    """Session's fixed UDP source port: the hash of each 5-tuple, so which slave, is the same every run."""
    return SESSION_PORT + 64 * flow + session


def stamp(frame: bytearray, at: int, seq: int, sent: int) -> None:
    """Write seq and send time into the probe payload at `at` of a frame (built with both zero, or stamped
    before) and fix its UDP checksum, just before the payload, from the words that changed (RFC 1624:
    HC' = ~(~HC + ~m + m'))."""
    old_seq, old_sent = STAMP.unpack_from(frame, at + 6)
    STAMP.pack_into(frame, at + 6, seq, sent)
    total = ~int.from_bytes(frame[at - 2 : at], "big") & 0xFFFF
    total += _words(seq, sent) + 6 * 0xFFFF - _words(old_seq, old_sent)  # + ~m per word
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    frame[at - 2 : at] = ((~total & 0xFFFF) or 0xFFFF).to_bytes(2, "big")


def _words(seq: int, sent: int) -> int:
    """The sum of the 16-bit words of (seq, sent) as STAMP packs them."""
    return (
        (seq >> 16)
        + (seq & 0xFFFF)
        + (sent >> 48)
        + (sent >> 32 & 0xFFFF)
        + (sent >> 16 & 0xFFFF)
        + (sent & 0xFFFF)
    )


def probe_of(data: bytes):
    """(flow, seq, send time) of a probe frame, untagged or 802.1Q, IPv4 or IPv6 UDP; None for any other."""
    off = 14
    etype = int.from_bytes(data[12:14], "big")
    if etype == ETH_P_8021Q:
        etype, off = int.from_bytes(data[16:18], "big"), 18
    if etype == 0x0800 and len(data) > off + 9 and data[off + 9] == 17:
        off += (data[off] & 0xF) * 4 + 8
    elif etype == 0x86DD and len(data) > off + 6 and data[off + 6] == 17:
        off += 48
    else:
        return None
    if data[off : off + 4] != MAGIC or len(data) < off + HEAD.size:
        return None
    _m, flow, seq, sent = HEAD.unpack_from(data, off)
    return flow, seq, sent


def with_tag(data: bytes, ancdata) -> bytes:
    """The frame as it was on the wire: the 802.1Q tag the kernel keeps beside a received (or offloaded)
    frame (PACKET_AUXDATA) put back after the MACs, as libpcap does."""
    for level, kind, aux in ancdata:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(aux) >= AUXDATA.size:
            status, _len, _snap, _mac, _net, tci, tpid = AUXDATA.unpack_from(aux)
            if status & TP_STATUS_VLAN_VALID:
                tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else ETH_P_8021Q
                return data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
    return data


def kernel_ns(ancdata) -> int:
    """The SO_TIMESTAMPNS receive time of a datagram or frame (now when the kernel gave none)."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec * 1_000_000_000 + nsec
    return time.time_ns()


def bpf_program(port: int) -> bytes:
    """Accept ARP, LACP (slow protocols), ICMPv6 (ND, told apart in userspace), and IPv4/IPv6 UDP to `port`
    (port 0: no UDP at all, for a peer that only watches for GARP/NA) and frames carrying their 802.1Q tag
    in the data (a sender's own outgoing frames; with port only); drop the rest in the kernel. A received
    tag is beside the frame (PACKET_AUXDATA), so the program reads the untagged frame."""
    accept, drop, v6, tagged = 100, 101, 102, 103  # labels, resolved below
    never = 0x10000  # no UDP port is this: port 0 matches nothing
    ins = [
        (0x28, 0, 0, 12),  # ldh [12]              ethertype
        (0x15, accept, 0, 0x0806),  # ARP
        (0x15, accept, 0, 0x8809),  # slow protocols (LACP)
        (0x15, v6, 0, 0x86DD),
        (0x15, tagged, 0, ETH_P_8021Q),
        (0x15, 0, drop, 0x0800),
        (0x30, 0, 0, 23),  # ldb [23]              IPv4 protocol
        (0x15, 0, drop, 17),
        (0xB1, 0, 0, 14),  # ldxb 4*([14]&0xf)     IPv4 header length
        (0x48, 0, 0, 16),  # ldh [x+16]            UDP destination port
        (0x15, accept, drop, port or never),
        ("v6",),
        (0x30, 0, 0, 20),  # ldb [20]              IPv6 next header
        (0x15, accept, 0, 58),  # ICMPv6
        (0x15, 0, drop, 17),
        (0x28, 0, 0, 56),  # ldh [56]              UDP destination port
        (0x15, accept, drop, port or never),
        ("tagged",),
        (0x06, 0, 0, 0xFFFF if port else 0),
        ("accept",),
        (0x06, 0, 0, 0xFFFF),
        ("drop",),
        (0x06, 0, 0, 0),
    ]
    labels, code, at = {}, [], 0
    for item in ins:
        if len(item) == 1:
            labels[{"v6": v6, "tagged": tagged, "accept": accept, "drop": drop}[item[0]]] = at
        else:
            code.append(item)
            at += 1
    out = []
    for pc, (op, jt, jf, k) in enumerate(code):  # jumps are relative to the next instruction
        jt = labels[jt] - pc - 1 if jt in labels else jt
        jf = labels[jf] - pc - 1 if jf in labels else jf
        out.append(struct.pack("HBBI", op, jt, jf, k))
    return b"".join(out)


def attach_filter(sock: socket.socket, port: int) -> ctypes.Array:
    code = bpf_program(port)
    buf = ctypes.create_string_buffer(code)
    fprog = struct.pack("HL", len(code) // 8, ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    return buf  # keep alive


def big_buffer(sock: socket.socket) -> None:
    """16 MiB of receive buffer past net.core.rmem_max (root): a helper the scheduler starves for a while
    must not lose what it has not read yet."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)


def frame_socket(ifname: str, port: int) -> tuple:
    """A non-blocking AF_PACKET socket on `ifname` (every protocol, bpf_program(port)), with kernel
    timestamps and the 802.1Q tags beside the frames; returns (socket, the filter to keep alive)."""
    # protocol 0 until bound: a socket made for ETH_P_ALL queues every frame of every interface at once,
    # before its filter is attached
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    kept = attach_filter(sock, port)
    big_buffer(sock)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    sock.bind((ifname, 0x0003))  # ETH_P_ALL, on this interface only
    sock.setblocking(False)
    return sock, kept
