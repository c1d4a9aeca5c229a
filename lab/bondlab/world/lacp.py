"""The LACP partner where hardware has it, and what a bond says about negotiation.

A VF's LACPDUs leave by its PF's cable (switch.py carries them past the PF's bridge), so the partner is the
ToR port at the cable's far end (`core_port` of the PF's switch), one LACP port per cable, shared by every
VF of that PF. Its LACP system is the switch's own, or its MLAG pair's (both switches of a pair present one
system: one aggregator over both PFs); two independent ToRs are two systems, and the bond's ad_select keeps
one aggregator. partner_port() says all that for a PF; the scapy partner (world.lacp_partner) speaks it.

The kernel partner (`lacpPartner` without a behaviour) is the switch's own 802.3ad bond `lag<k>` over its
ToR ports, as the kernel selftests' partner (bond_lacp_prio.sh): honest for ports on ONE switch, whose LAG
then carries their PFs' traffic (every VF's, as a ToR's LAG does). It cannot stand for an MLAG pair: one
bond hangs on one bridge, and the other switch's traffic would go through it (a ToR death would then be a
lab artefact); for a pair the scapy partner speaks, and the data plane stays on each ToR.
"""

from __future__ import annotations

import hashlib

from bondlab.world.labstate import LabError
from bondlab.world.netns import Netns, batch
from bondlab.world.switch import PfSwitch

# The partner's oper port state when it answered and the port carries traffic: the bits of
# ad_{actor,partner}_oper_port_state_str that `ip -d link` prints for a slave.
NEGOTIATED = {"in_sync", "collecting", "distributing"}


def partner_system(state, switch: str) -> str:
    """The LACP system ID a fabric switch speaks with: its MLAG pair's when it is one of a pair, else its
    own; locally administered, unique to the lab."""
    sw = state.switch(switch)
    digest = hashlib.sha1(f"{state.id}/{sw.mlag or sw.name}".encode()).hexdigest()
    return "02:" + ":".join(digest[i : i + 2] for i in range(0, 10, 2))


def partner_port(state, pf) -> dict:
    """The ToR port a PF's cable lands on, as the partner speaks there: its name, the switch, the switch's
    LACP system and a port number unique in the lab (so unique in an MLAG pair too)."""
    number = next(i for i, known in enumerate(state.pfs, start=1) if known.path == pf.path)
    return {
        "ifname": PfSwitch(pf.switch).core_port,
        "switch": pf.cable_to,
        "system": partner_system(state, pf.cable_to),
        "number": number,
    }


def make_partners(state, fabric: Netns, ports: list) -> list:
    """The switches' own 802.3ad bonds over `ports` (partner_port()s): one per switch, made or joined; a
    port already in one stays. Returns the bonds' names. Refuses ports of both switches of an MLAG pair."""
    lags = state.lacp_partners.setdefault("lags", {})
    by_system: dict = {}
    for port in ports:
        by_system.setdefault(port["system"], []).append(port)
    for group in by_system.values():
        switches = sorted({port["switch"] for port in group})
        if len(switches) > 1:
            raise LabError(
                f"lacpPartner: a kernel bond cannot stand for MLAG pair {' + '.join(switches)} (it hangs on "
                "one switch); give a behaviour (honest: the scapy partner speaks for the pair)"
            )
    made = []
    for port in ports:
        if port["ifname"] in lags:
            made.append(lags[port["ifname"]])
            continue
        name = next(
            (lags[p["ifname"]] for p in ports if p["switch"] == port["switch"] and p["ifname"] in lags),
            f"lag{len(set(lags.values())) + 1}",
        )
        fresh = name not in lags.values()
        lags[port["ifname"]] = name
        state.save()
        make_partner(fabric, state, name, port, fresh)
        made.append(name)
    return sorted(set(made))


def make_partner(fabric: Netns, state, name: str, port: dict, fresh: bool) -> None:
    """A ToR port into the switch's 802.3ad bond `name` (fast LACP, miimon 100, the switch's LACP system;
    `fresh`: made now, a port of that switch). The kernel enslaves only a port that is down, so the cable
    loses carrier for the moment between `down` and the enslave (one batch: a few ms)."""
    ifname, lines = port["ifname"], []
    if fresh:
        lines += [
            f"link add name {name} type bond mode 802.3ad miimon 100 lacp_rate fast "
            f"xmit_hash_policy layer3+4 ad_actor_system {port['system']}",
            f"link set {name} alias {state.mark}",
        ]
    lines += [f"link set {ifname} nomaster", f"link set {ifname} down", f"link set {ifname} master {name}"]
    if fresh:
        lines.append(f"link set {name} master {state.switch(port['switch']).bridge} up")
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
