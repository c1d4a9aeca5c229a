"""When a bond failed over, from what the probe helpers recorded, on two independent clocks: the kernel's
receive timestamp of the bond's gratuitous ARP at a slave's switch port (taps), and the read time of the
rtnetlink IFLA_EVENT_BONDING_FAILOVER in the pod's netns (traffic.linkevents rows: an upper bound); and a
bond's kernel events in order (MII changes, failovers), the marks of the report's timelines."""

from __future__ import annotations

from bondlab.traffic import frames
from bondlab.traffic.linkevents import IFLA_EVENT_BONDING_FAILOVER


def failover_times(events: list, taps: list, bond: str, slaves: list, after: int, before: int) -> dict:
    """When the kernel failed over after `after` (ns), before `before`: `garp_ns`, the kernel timestamp of the
    first gratuitous ARP entering the switch from one of the pod's slave ports (`slaves`: tap labels);
    `event_ns`, the read time of the first IFLA_EVENT_BONDING_FAILOVER of `bond` in the pod's netns."""
    out = {"garp_ns": 0, "event_ns": 0}
    for ts, name, event, *_rest in events:
        if name == bond and event == IFLA_EVENT_BONDING_FAILOVER and after <= ts < before:
            out["event_ns"] = ts
            break
    entering = [t for t in taps if not t[1]]
    firsts = [stamp for label in slaves for stamp in frames.notices(entering, label, after, "garp", before)]
    out["garp_ns"] = min(firsts, default=0)
    return out


MII = {0: "MII up", 1: "MII going down", 2: "MII down", 3: "MII going back"}  # IFLA_BOND_SLAVE_MII_STATUS


def bond_events(events: list, bond: str, slaves: list) -> list:
    """(read time ns, slave, what) of a bond's kernel events in its pod's netns: each change of a slave's MII
    status ("MII down", ...; up before the first message) and each failover ("active", the slave that
    became active)."""
    out, mii = [], dict.fromkeys(slaves, 0)
    names = {e[5]: e[1] for e in events if e[1] in mii}  # ifindex -> slave, from all its messages
    for ts, name, event, _carrier, _master, _index, status, _role, active, *_ in events:
        if name in mii:
            if status is not None and status != mii[name]:
                mii[name] = status
                out.append((ts, name, MII.get(status, f"MII {status}")))
        elif name == bond and event == IFLA_EVENT_BONDING_FAILOVER:
            out.append((ts, names.get(active, "?"), "active"))
    return out
