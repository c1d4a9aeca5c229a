"""The shape of a traffic flow (spec.traffic.flows[i]): its address family, 802.1Q tag, source MACs,
sessions and `packet:` template, checked once where the flow is written.

A flow whose probes plain kernel UDP can send (the default) stays kernel UDP. One that asks for frames of
its own - a template, `macs: N`, `vlan: ID` - gets them built by the runner with scapy, one per session,
and sent raw by the probe helper on the source's interface (traffic.sessions, traffic.wire)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from bondlab.model import derive, template
from bondlab.model.template import Template, TemplateError


class ShapeError(ValueError):
    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key  # the flow's key the message is about (its line)


@dataclass(frozen=True)
class Shape:
    family: str = "ipv4"
    vlan: int = 0
    macs: int = 1
    sessions: int = 1
    template: Optional[Template] = None

    @property
    def own_frames(self) -> bool:
        """Frames built by the lab and sent raw (else kernel UDP)."""
        return self.template is not None or self.macs > 1 or bool(self.vlan)

    @property
    def frame_template(self) -> Template:
        return self.template or template.PLAIN[self.family]


@lru_cache(maxsize=64)
def _parse(text: str) -> Template:
    return template.parse(text)


def shape(raw: dict) -> Shape:
    """A flow mapping's shape, or ShapeError naming the key at fault."""
    tpl = None
    if raw.get("packet") is not None:
        try:
            tpl = _parse(raw["packet"])
        except TemplateError as error:
            raise ShapeError(f"packet {raw['packet']!r}: {error}", "packet") from None
    family = raw.get("family") or (tpl.family if tpl else "ipv4")
    if tpl and tpl.family != family:
        raise ShapeError(f"family {family}, but the packet template is {tpl.family} ({tpl.text})", "family")
    if tpl and tpl.tagged and not raw.get("vlan"):
        raise ShapeError(f"packet {tpl.text!r}: a Dot1Q layer needs the flow's `vlan: ID`", "packet")
    sessions, macs = raw.get("sessions", 1), raw.get("macs", 1)
    if macs > sessions:
        raise ShapeError(
            f"macs {macs} > sessions {sessions}: session i sends from MAC i % macs, so add sessions", "macs"
        )
    return Shape(family, raw.get("vlan", 0), macs, sessions, tpl)


def missing_ipv6(end: str, prepared) -> str:
    """Why endpoint `end` (a peer, POD or POD/IFACE) will have no IPv6 address in the lab `prepared`
    plans, or '' when it will (or cannot be told before ADD: an IPAM that names no subnet)."""
    for peer in prepared.topology.peers:
        if peer.name == end:
            return "" if any(":" in a for a in peer.addresses) else f"peer {end} has IPv4 addresses only"
    for plan in prepared.plans:
        pod, iface = (end, "") if end in (plan.pod.name, plan.pod.key) else end.rpartition("/")[::2]
        if pod not in (plan.pod.name, plan.pod.key):
            continue
        for d in plan.delegates:
            kinds = [p.get("type") for p in d.config.get("plugins") or [d.config] if isinstance(p, dict)]
            if (d.ifname == iface) if iface else "bond" in kinds:
                nets = derive.ipam_subnets(d.config)
                if nets and all(net.version == 4 for net, _ in nets):
                    return f"{end}'s IPAM ({d.ifname}) gives IPv4 only ({', '.join(str(n) for n, _ in nets)})"
    return ""
