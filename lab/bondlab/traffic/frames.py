"""The frames the checks need, dissected with scapy from the probe helpers' tap records (traffic.helper keeps
every ARP, ND and LACPDU frame, hex): gratuitous ARPs and unsolicited NAs told apart (garp:,
unsolicitedNa:, the report's marks, the failover time), LACPDUs with their actor and partner states
(lacpdu:). scapy is imported on first use, never by the helper."""

from __future__ import annotations

import functools

from bondlab.world.lacpdu import LACP_BITS


def notices(
    events: list, label: str, after: int, what: str = "garp", before: int = 1 << 62, incoming: bool = False
) -> list:
    """Kernel timestamps in [after, before) of one kind of peer notification on one tap: `what` "garp", a
    gratuitous ARP (sender IP == target IP), or "na", an unsolicited NA (ICMPv6 136, solicited flag clear,
    override set); `incoming`: only frames the tapped interface received (a peer hearing the bond)."""
    return [
        ts
        for tap, out, kind, _f, _s, ts, raw in events
        if tap == label
        and after <= ts < before
        and kind in ("arp", "nd")
        and raw
        and not (incoming and out)
        and notice(raw)[0] == what
    ]


@functools.lru_cache(maxsize=4096)
def notice(raw: str) -> tuple:
    """(what, IP) of a tapped ARP/ND frame (hex), dissected with scapy: ("garp", sender IP) for a
    gratuitous ARP, ("na", target) for an unsolicited NA, ("", "") for any other. Cached: a frame is
    asked about once per expectation and picture."""
    from scapy.layers.inet6 import ICMPv6ND_NA
    from scapy.layers.l2 import ARP, Ether

    frame = Ether(bytes.fromhex(raw))
    arp = frame.getlayer(ARP)
    if arp is not None:
        return ("garp", arp.psrc) if arp.psrc == arp.pdst else ("", "")
    na = frame.getlayer(ICMPv6ND_NA)
    if na is not None and not na.S and na.O:
        return ("na", na.tgt)
    return ("", "")


def lacpdus(events: list, label: str, after: int = 0, before: int = 1 << 62) -> list:
    """LACPDUs seen on a tap in [after, before), dissected with scapy (only its slow-protocols layer):
    {ts, outgoing, actor, partner} with the states as sets of LACP_BITS names."""
    from scapy.contrib.lacp import LACP  # noqa: F401  (binds the layer to ethertype 0x8809)
    from scapy.layers.l2 import Ether

    out = []
    for tap, outgoing, kind, _f, _s, ts, raw in events:
        if tap == label and kind == "lacp" and raw and after <= ts < before:
            frame = Ether(bytes.fromhex(raw))
            lacp = frame.getlayer("LACP")
            if lacp is not None:
                out.append(
                    {
                        "ts": ts,
                        "outgoing": outgoing,
                        "actor": lacp_bits(int(lacp.actor_state)),
                        "partner": lacp_bits(int(lacp.partner_state)),
                    }
                )
    return out


def lacp_bits(state: int) -> frozenset:
    return frozenset(name for bit, name in enumerate(LACP_BITS) if state >> bit & 1)
