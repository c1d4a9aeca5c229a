"""Traffic flows (spec.traffic.flows[i]), resolved once where they are read: each direction a `Flow` of its
own (a bidirectional mapping is two), its ends parsed (model.endpoints) and its `Shape` - address family,
802.1Q tag, source MACs, sessions and `packet:` template - computed and checked once.

A flow whose probes plain kernel UDP can send (the default) stays kernel UDP. One that asks for frames of
its own - a template, `macs: N`, `vlan: ID` - gets them built by the runner with scapy, one per session,
and sent raw by the probe helper on the source's interface (traffic.sessions, traffic.wire)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from bondlab.model import derive, endpoints, template
from bondlab.model.endpoints import Endpoint
from bondlab.model.template import Template, TemplateError
from bondlab.model.yamlsrc import SourceError, where


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


@dataclass(frozen=True)
class Flow:
    """One direction of a flow mapping, as the probes send it: from `src` to `dst` at `rate` per second.
    `where` is the line an error about its address family points at (its `family:`, else its `from:`),
    `path` the mapping's (spec.traffic.flows[i])."""

    src: Endpoint
    dst: Endpoint
    shape: Shape
    rate: int
    where: str = ""
    path: str = ""

    @property
    def name(self) -> str:
        return f"{self.src} -> {self.dst}"


def expand(raw: dict, rate: int, path: str, subject: str, at: str = "") -> tuple:
    """A flow mapping (already checked against the schema's `flow`) -> its Flows, forward first; `rate`:
    the probes/s of a flow that names none. SourceError at the key at fault (`at` when unlocated)."""
    try:
        kind = shape(raw)
    except ShapeError as error:
        raise SourceError(str(error), where(raw, error.key, at), f"{path}.{error.key}", subject) from None
    ends = [endpoints.parse(raw[key], "end", where(raw, key, at), f"{path}.{key}") for key in ("from", "to")]
    pairs = [ends] + ([ends[::-1]] if raw.get("bidirectional", True) else [])
    family_at = where(raw, "family" if "family" in raw else "from", at)
    return tuple(Flow(src, dst, kind, raw.get("rate", rate), family_at, path) for src, dst in pairs)


def missing_ipv6(end: Endpoint, prepared) -> str:
    """Why endpoint `end` (a peer, POD or POD/IFACE) will have no IPv6 address in the lab `prepared`
    plans, or '' when it will (or cannot be told before ADD: an IPAM that names no subnet)."""
    for peer in prepared.topology.peers:
        if peer.name == end.text:
            return "" if any(":" in a for a in peer.addresses) else f"peer {end} has IPv4 addresses only"
    plans = {}
    for plan in prepared.plans:
        plans.setdefault(plan.pod.name, plan)
        plans.setdefault(plan.pod.key, plan)
    found = endpoints.locate(end, plans)
    if found is None:
        return ""
    plan, iface = found
    for d in plan.delegates:
        kinds = [p.get("type") for p in d.config.get("plugins") or [d.config] if isinstance(p, dict)]
        if (d.ifname == iface) if iface else "bond" in kinds:
            nets = derive.ipam_subnets(d.config)
            if nets and all(net.version == 4 for net, _ in nets):
                return f"{end}'s IPAM ({d.ifname}) gives IPv4 only ({', '.join(str(n) for n, _ in nets)})"
    return ""
