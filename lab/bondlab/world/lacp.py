"""An LACP partner on the switch side of a pod's 802.3ad bond, and what the bond says about negotiation.

A ToR (or an MLAG pair, when the VFs come from PFs cabled to two switches) bundles the switch ports behind
the pod's slaves into one link aggregate and answers its LACPDUs. In the lab those ports are the slaves'
fabric ports; the partner takes them off their PF bridges into an 802.3ad bond `lag<k>` in the fabric
netns, a port of the core switch - the kernel selftests' partner (bond_lacp_prio.sh, bond_passive_lacp.sh).
A Linux bridge never forwards LACPDUs (01:80:c2:00:00:02), so without a partner each slave forms its own
aggregator and only one of them carries traffic.

What the partner's ports no longer get from their PF bridge: the VF's VLAN and `cut: {uplink}` (they hang
off the core directly). Cutting the VF or the PF's cable still takes them down; spoofchk (tc on the port)
stays.
"""

from __future__ import annotations

from bondlab.world.netns import Netns, batch
from bondlab.world.switch import CORE

# The partner's oper port state when it answered and the port carries traffic: the bits of
# ad_{actor,partner}_oper_port_state_str that `ip -d link` prints for a slave.
NEGOTIATED = {"in_sync", "collecting", "distributing"}


def make_partner(fabric: Netns, name: str, ports: list, mark: str) -> None:
    """One 802.3ad bond (fast LACP, miimon 100) over the given fabric ports, a port of the core switch.
    The kernel enslaves only a port that is down, so each slave of the pod's bond loses carrier for the
    moment between `down` and the enslave that opens its port again (one batch: a few ms)."""
    lines = [
        f"link add name {name} type bond mode 802.3ad miimon 100 lacp_rate fast xmit_hash_policy layer3+4",
        f"link set {name} alias {mark}",
    ]
    for port in ports:
        lines += [f"link set {port} nomaster", f"link set {port} down", f"link set {port} master {name}"]
    lines.append(f"link set {name} master {CORE} up")
    batch(fabric.name, lines)


def slave_state(netns: str, ifname: str) -> dict:
    """An 802.3ad slave's aggregator and the actor's and partner's oper port state (sets of words)."""
    links = Netns(netns).ip_json("-d", "link", "show", "dev", ifname) or [{}]
    data = links[0].get("linkinfo", {}).get("info_slave_data", {})
    return {
        "aggregator": data.get("ad_aggregator_id"),
        "actor": set(data.get("ad_actor_oper_port_state_str", [])),
        "partner": set(data.get("ad_partner_oper_port_state_str", [])),
    }


def negotiated(state: dict) -> bool:
    """Both ends in sync and distributing: a partner answered and the port carries traffic."""
    return NEGOTIATED <= state["actor"] and NEGOTIATED <= state["partner"]


def describe(state: dict) -> str:
    words = ",".join(sorted(state["actor"] & NEGOTIATED)) or "-"
    partner = ",".join(sorted(state["partner"] & NEGOTIATED)) or "-"
    return f"aggregator {state['aggregator']}, actor {words}, partner {partner}"


def active_aggregator(netns: str, bond: str):
    """The 802.3ad bond's active aggregator id (`ad_info` of `ip -d link`), None when it has none."""
    links = Netns(netns).ip_json("-d", "link", "show", "dev", bond) or [{}]
    return links[0].get("linkinfo", {}).get("info_data", {}).get("ad_info", {}).get("aggregator")


def aggregators(slaves: dict, active) -> str:
    """`slaves` (name -> slave_state) and the active aggregator, as the report says them."""
    parts = [f"{name} in {state['aggregator']}" for name, state in slaves.items()]
    return ", ".join(parts) + f"; active aggregator {active}"
