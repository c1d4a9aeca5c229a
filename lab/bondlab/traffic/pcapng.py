"""A pcapng of a run: every frame the probe helpers' taps saw, for Wireshark and tcpdump.

Each helper (traffic.helper) keeps the frames its taps pass (kernel timestamp, tap, direction, bytes) in
memory while it runs and writes them to one file when it stops, in FRAME records; the runner merges the
helpers' files by time and writes them with scapy's pcapng writer: one interface per tap, named by its label
(the switch port of POD/IFACE, or `peer NAME`), inbound/outbound as the tapped interface saw them (a switch
port's inbound is what the pod sent), and a comment on the first frame at or after each action.

This module is stdlib-only at import: the helper imports FRAME; scapy is imported by write() alone.
"""

from __future__ import annotations

import struct

FRAME = struct.Struct("!QBBH")  # kernel ns, tap index in the helper's spec, outgoing, length; then bytes
INBOUND, OUTBOUND = 1, 2  # pcapng epb_flags direction


def dump(path: str, frames: list) -> None:
    """The helper's side: (ts, tap index, outgoing, bytes) tuples into `path`."""
    with open(path, "wb") as stream:
        stream.write(b"".join(FRAME.pack(ts, tap, out, len(data)) + data for ts, tap, out, data in frames))


def load(path: str, labels: list) -> list:
    """A helper's file -> [(ts, tap label, outgoing, bytes)]; `labels`: its spec's taps, in order."""
    with open(path, "rb") as stream:
        blob = stream.read()
    out, off = [], 0
    while off + FRAME.size <= len(blob):
        ts, tap, outgoing, length = FRAME.unpack_from(blob, off)
        off += FRAME.size
        out.append((ts, labels[tap], bool(outgoing), blob[off : off + length]))
        off += length
    return out


def write(path: str, frames: list, marks: list) -> int:
    """`frames` (load's tuples, any order) into a pcapng at `path`, with `marks` ([(ns, text)]) as comments
    on the first frame at or after each (the last frame for a mark after every frame); returns the count."""
    from scapy.data import DLT_EN10MB
    from scapy.utils import RawPcapNgWriter

    frames = sorted(frames, key=lambda f: f[0])
    comments: dict = {}
    for ns, text in sorted(marks):
        at = next((i for i, f in enumerate(frames) if f[0] >= ns), len(frames) - 1)
        comments.setdefault(at, []).append(text.encode())
    writer = RawPcapNgWriter(path)
    writer.linktype = DLT_EN10MB
    writer.write_header(None)
    try:
        for i, (ts, label, outgoing, data) in enumerate(frames):
            # The raw writer's own call: named interface, direction and comments per frame (~9 us; building
            # a scapy Packet per frame to use write() costs ~250 us, seconds for a run's frames).
            writer._write_packet(
                data,
                DLT_EN10MB,
                sec=ts / 1e9,
                ifname=label.encode(),
                direction=OUTBOUND if outgoing else INBOUND,
                comments=comments.get(i),
            )
    finally:
        writer.close()
    return len(frames)
