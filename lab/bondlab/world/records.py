"""The lab's records: what deploy made, typed and frozen, written once per change and read by everyone after.

The world builder writes a Pf (with its Vfs and switch ports) and a Peer as it makes them; the Multus-style
runtime writes a Pod when it makes the pod's sandbox, and a new Pod after each CNI ADD or DEL (the bond, its
slaves, the cabled links and the addresses come from what deploy planned and what ADD returned). The runner,
inspect, the Python API and destroy read these fields; nothing is derived again at run time. On disk each
record is the JSON of its to_dict(); from_dict() reads it back.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Optional

# slots where the interpreter has them (3.10+); the records are frozen either way
record = dataclass(frozen=True, **({"slots": True} if sys.version_info >= (3, 10) else {}))


def _plain(cls, data: dict) -> dict:
    """The keys of `data` that are fields of `cls` (a record written by an older lab may carry others)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


class Flat:
    """A record whose fields are all plain JSON values: its dict is its fields."""

    __slots__ = ()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        return cls(**_plain(cls, data))


@record
class Vf(Flat):
    """One fake VF: its netdev on the node while it is not in a pod, its switch port, its PCI address."""

    index: int
    netdev: str
    port: str
    pci: str


@record
class SwitchLink(Flat):
    """A cable from one fabric switch to another: the other switch, and the veth ends on each."""

    other: str
    port: str  # on this switch's bridge
    far_port: str  # on the other's


@record
class Switch:
    """A fabric switch (`core`, a ToR, a spine): its bridge in the fabric netns, its cables to others."""

    name: str
    bridge: str
    links: tuple = ()
    mlag: str = ""  # the MLAG pair it is one of: one LACP system with the other

    def to_dict(self) -> dict:
        return {**asdict(self), "links": [link.to_dict() for link in self.links]}

    @classmethod
    def from_dict(cls, data: dict) -> Switch:
        plain = _plain(cls, data)
        return cls(**{**plain, "links": tuple(SwitchLink.from_dict(x) for x in plain.get("links") or ())})


@record
class Docker(Flat):
    """The docker engine a lab's pods run in (`--pods docker`): its URL, the pods' image, whether the lab
    started the engine (then destroy stops it), and what starting it and importing the image took (s)."""

    url: str
    image: str
    started_engine: bool
    engine_seconds: float
    import_seconds: float


@record
class Pf:
    """One PF on a node: its backend, its switch (`switch`: the NIC's embedded switch, a bridge; `port`: the
    PF's own port, which a host link is cabled to; `uplink`: its cable, which lands on fabric switch
    `cable_to`) and its VFs in index order."""

    node: str
    nodens: str
    name: str
    backend: str
    switch: str
    port: str
    uplink: str
    resource: str
    pci: str
    mtu: int
    nsim: Optional[int] = None
    vfs: tuple = ()
    cable_to: str = "core"

    @property
    def path(self) -> str:
        """NODE/PF, as scenarios name it."""
        return f"{self.node}/{self.name}"

    def vf(self, index: int) -> Vf:
        for entry in self.vfs:
            if entry.index == index:
                return entry
        raise KeyError(f"PF {self.path} has no VF {index}")

    def to_dict(self) -> dict:
        return {**asdict(self), "vfs": [entry.to_dict() for entry in self.vfs]}

    @classmethod
    def from_dict(cls, data: dict) -> Pf:
        plain = _plain(cls, data)
        return cls(**{**plain, "vfs": tuple(Vf.from_dict(entry) for entry in data.get("vfs") or ())})


@record
class Peer:
    """A traffic peer: its netns, the switch it hangs off (a fabric switch or NODE/PF) and its port there,
    its addresses (with prefix)."""

    name: str
    netns: str
    switch: str
    addresses: tuple = ()
    vlan: int = 0
    port: str = ""

    @property
    def device(self) -> str:
        """The peer's interface that carries its addresses."""
        return f"eth0.{self.vlan}" if self.vlan else "eth0"

    def to_dict(self) -> dict:
        return {**asdict(self), "addresses": list(self.addresses)}

    @classmethod
    def from_dict(cls, data: dict) -> Peer:
        plain = _plain(cls, data)
        return cls(**{**plain, "addresses": tuple(plain.get("addresses") or ())})


@record
class Cable(Flat):
    """A pod interface the lab cabled to a switch port: a VF (`vf` its index) or a host link (`vf` None)."""

    ifname: str
    pf: str  # NODE/PF
    port: str
    vf: Optional[int] = None
    pci: str = ""


@record
class Delegate(Flat):
    """One network of the pod as Multus execs it: the NAD, CNI_IFNAME, the config, the VF handed to it."""

    nad: str  # NAMESPACE/NAME
    ifname: str
    config: dict = field(hash=False)
    device: str = ""


@record
class Pod:
    """A pod: who it is, its sandbox (netns; a docker pod's netns_path and container too), the networks ADD
    was run for (`delegates`, in order: what DEL undoes), what ADD returned (`results` by interface) and what
    the lab reads from that: the bond's interface, its slaves, the cabled interfaces, the addresses
    (with prefix) by interface."""

    seq: int
    key: str  # NAMESPACE/NAME
    name: str
    namespace: str
    node: str
    netns: str
    container_id: str
    uid: str
    owner: str = ""
    netns_path: str = ""
    container: str = ""
    devices: dict = field(default_factory=dict, hash=False)  # resource -> [pci]
    bond: Optional[str] = None
    slaves: tuple = ()
    cables: tuple = ()
    addresses: dict = field(default_factory=dict, hash=False)  # ifname -> (IPv4 or IPv6/prefix, ...)
    delegates: tuple = ()
    results: dict = field(default_factory=dict, hash=False)  # ifname -> the CNI ADD result

    def cable(self, ifname: str) -> Optional[Cable]:
        return next((c for c in self.cables if c.ifname == ifname), None)

    def with_delegate(self, delegate: Delegate) -> Pod:
        """ADD is about to run for `delegate`: a failure from here on still DELs it (Multus delPlugins)."""
        return replace(self, delegates=(*self.delegates, delegate))

    def without_last_delegate(self) -> Pod:
        return replace(self, delegates=self.delegates[:-1])

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "slaves": list(self.slaves),
            "cables": [c.to_dict() for c in self.cables],
            "addresses": {ifname: list(found) for ifname, found in self.addresses.items()},
            "delegates": [d.to_dict() for d in self.delegates],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Pod:
        plain = _plain(cls, data)
        return cls(
            **{
                **plain,
                "slaves": tuple(plain.get("slaves") or ()),
                "cables": tuple(Cable.from_dict(c) for c in plain.get("cables") or ()),
                "addresses": {k: tuple(v) for k, v in (plain.get("addresses") or {}).items()},
                "delegates": tuple(Delegate.from_dict(d) for d in plain.get("delegates") or ()),
            }
        )
