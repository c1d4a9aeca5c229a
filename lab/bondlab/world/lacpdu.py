"""What the lab's scapy LACP partner (world.lacp_partner) says to a pod's 802.3ad bond, one switch port at a
time: pure functions from the bond's last LACPDU (or none yet) and a behaviour to the partner's answer,
built with scapy (scapy.contrib.lacp). No kernel, no socket: unit-tested alone.

Behaviours (IEEE 802.1AX as a switch port speaks it; bits as LACP_BITS names them):
- honest: active, aggregatable, in sync, and collecting + distributing once the bond says it is in sync
  itself; the same key on every port, so the bond can put its ports in one aggregator;
- silent: sends nothing (a switch that stopped speaking LACP, or LACP off on its side);
- out-of-sync: as honest, but never in sync (so never collecting or distributing either): a port whose
  switch side did not attach it to its aggregator (an MLAG peer that lost its peer link does this);
- wrong-key: as honest, but each port gives its own key (KEY + port number): the bond's ports face
  partners that cannot be aggregated together.

The partner's timeout bit mirrors the bond's (lacpRate fast asks for fast LACPDUs: it gets them, 1 s, and
the partner asks for the same); it sends every FAST s then, SLOW s otherwise, and answers at once whenever
what the bond says changes (run by the caller: `changed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

# IEEE 802.1AX actor/partner state bits, low to high, as scenario files name them
LACP_BITS = (
    "activity",
    "timeout",
    "aggregation",
    "synchronization",
    "collecting",
    "distributing",
    "defaulted",
    "expired",
)
BEHAVIOURS = ("honest", "silent", "out-of-sync", "wrong-key")
SLOW_PROTOCOLS_MAC = "01:80:c2:00:00:02"
ETH_P_SLOW = 0x8809
FAST, SLOW = 1.0, 30.0  # s between periodic LACPDUs (802.1AX fast/slow periodic time)
TX_LIMIT = 3  # LACPDUs a port may send in any FAST s (802.1AX transmit machine)
KEY = 1000  # the partner's key on every port (honest)
SYSTEM_PRIORITY = 0x8000
PORT_PRIORITY = 0x00FF
BIT = {name: 1 << i for i, name in enumerate(LACP_BITS)}


@dataclass(frozen=True)
class Info:
    """One end's actor information in an LACPDU (the partner fields are the other end's, as heard)."""

    system: str = "00:00:00:00:00:00"
    system_priority: int = 0
    key: int = 0
    port: int = 0
    port_priority: int = 0
    state: int = 0

    def has(self, bit: str) -> bool:
        return bool(self.state & BIT[bit])


def heard(frame: bytes) -> Optional[Info]:
    """The actor information of an LACPDU frame (Ethernet), None for any other frame."""
    from scapy.contrib.lacp import LACP  # noqa: F401  (binds the layer to ethertype 0x8809)
    from scapy.layers.l2 import Ether

    lacp = Ether(frame).getlayer("LACP")
    if lacp is None:
        return None
    return Info(
        system=str(lacp.actor_system),
        system_priority=int(lacp.actor_system_priority),
        key=int(lacp.actor_key),
        port=int(lacp.actor_port_number),
        port_priority=int(lacp.actor_port_priority),
        state=int(lacp.actor_state),
    )


def actor(behaviour: str, system: str, port: int, bond: Optional[Info]) -> Optional[Info]:
    """What the partner says about itself on port number `port` (1, 2, ...) after hearing `bond` (None:
    nothing yet); None: it says nothing (silent)."""
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown LACP partner behaviour {behaviour!r} (one of {', '.join(BEHAVIOURS)})")
    if behaviour == "silent":
        return None
    state = BIT["activity"] | BIT["aggregation"]
    if bond is None:
        state |= BIT["defaulted"] | BIT["timeout"]  # nothing heard yet: ask for fast LACPDUs
    else:
        state |= bond.state & BIT["timeout"]
        if behaviour != "out-of-sync":
            state |= BIT["synchronization"]
            if bond.has("synchronization"):
                state |= BIT["collecting"] | BIT["distributing"]
    key = KEY + port if behaviour == "wrong-key" else KEY
    return Info(system, SYSTEM_PRIORITY, key, port, PORT_PRIORITY, state)


def build(me: Info, bond: Optional[Info], src_mac: str) -> bytes:
    """The LACPDU frame the partner sends: `me` as actor, the bond as heard (zeros before) as partner."""
    from scapy.contrib.lacp import LACP, SlowProtocol
    from scapy.layers.l2 import Ether

    bond = bond or Info()
    pdu = LACP(
        actor_system_priority=me.system_priority,
        actor_system=me.system,
        actor_key=me.key,
        actor_port_priority=me.port_priority,
        actor_port_number=me.port,
        actor_state=me.state,
        partner_system_priority=bond.system_priority,
        partner_system=bond.system,
        partner_key=bond.key,
        partner_port_priority=bond.port_priority,
        partner_port_number=bond.port,
        partner_state=bond.state,
    )
    return bytes(Ether(dst=SLOW_PROTOCOLS_MAC, src=src_mac, type=ETH_P_SLOW) / SlowProtocol() / pdu)


def answer(behaviour: str, system: str, port: int, bond: Optional[Info], src_mac: str) -> Optional[bytes]:
    """The frame to send on a port now (None: silent)."""
    me = actor(behaviour, system, port, bond)
    return None if me is None else build(me, bond, src_mac)


def period(bond: Optional[Info]) -> float:
    """Seconds between periodic LACPDUs: fast until the bond says it wants slow ones (timeout bit clear)."""
    return FAST if bond is None or bond.has("timeout") else SLOW


def changed(before: Optional[Info], now: Info) -> bool:
    """The bond's information changed (a new port, key or state): a partner answers at once (802.1AX NTT)."""
    return before != now


def next_send(sent_at: list, now: float) -> float:
    """When a port that sent LACPDUs at `sent_at` (monotonic s, oldest first) may send again: now, or once
    the oldest of the last TX_LIMIT leaves the FAST s window (answers to a bond that keeps changing must
    not flood it)."""
    recent = [t for t in sent_at if now - t < FAST]
    return now if len(recent) < TX_LIMIT else recent[-TX_LIMIT] + FAST
