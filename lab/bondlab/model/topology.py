"""The lab's world as data: nodes (a netns each), physical functions with fake VFs, the switch behind
every PF, traffic peers, and pools of VFs named like device-plugin resources.

Written by hand as a `kind: BondLab` YAML document (next to the Kubernetes objects or in its own file),
built in Python with the dataclasses, or derived from bare Kubernetes objects (see derive.py):

    apiVersion: bondlab/v1
    kind: BondLab
    metadata: {name: two-pf}
    spec:
      nodes:
        - name: node1
          pfs:
            - {name: ens1f0, vfs: 4, backend: veth, resourceName: intel.com/intel_sriov_PF_1}
            - {name: ens2f0, vfs: 4, backend: netdevsim, resourceName: intel.com/intel_sriov_PF_2}
            - {name: eth1000}            # vfs: 0 - a plain host link (a NIC without VFs)
      switches:             # optional: the fabric's switches besides `core` (ToRs, a spine), and their cables
        - {name: tor-a, uplinks: [core], mlag: tor}     # an MLAG pair: both speak LACP as one system
        - {name: tor-b, uplinks: [core], mlag: tor}
      peers:
        - {name: gw, switch: core, addresses: [10.56.217.1/24]}
        - {name: far1, switch: node1/ens1f0, addresses: [10.56.217.250/24]}
        - {name: v1350, switch: core, vlan: 1350, addresses: [10.20.0.1/24]}   # on eth0.1350
        - {name: far, switch: core, addresses: [10.56.217.253/24], mac: "02:62:6c:00:00:02"}  # a fixed MAC
      pods: docker          # optional: pods as containers of a Docker engine (default netns, see pods.py)

Every PF's switch (the NIC's embedded switch) is a Linux bridge; its uplink - the PF's cable - lands on a
port of a fabric switch: `core` unless the PF says `switch: tor-a`. Fabric switches are cabled to the switches
they name as `uplinks`; `core` always exists. The links must form a tree: the lab's switches run no spanning
tree, so a loop would be a broadcast storm. A bond over VFs of two PFs keeps reaching the core when one PF's
cable, or the switch it lands on, is cut. Real SR-IOV clusters cable PF 1 of every node to one ToR and PF 2
to another; derive.py does the same for files that hold only Kubernetes objects.

LACP is spoken where hardware speaks it: at the ToR port where a PF's cable lands, shared by every VF of
that PF. Each switch is an LACP system of its own, so a bond over PFs cabled to two switches sees two
partner systems (its ad_select keeps one aggregator, the other PF idles), unless the two form an MLAG pair
(`mlag: NAME` on both): then they present one system, and the bond one aggregator over both PFs.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Optional

from bondlab.model.yamlsrc import SourceError, expect, get, where

BACKENDS = ("veth", "netdevsim")
POD_BACKENDS = ("netns", "docker")
MAX_VFS = 256
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_NODE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$")  # also a fabric switch's name
CORE = "core"
_MAC = re.compile(r"^[0-9a-f]([02468ace])(:[0-9a-f]{2}){5}$")  # unicast (the group bit clear)


@dataclass
class PF:
    name: str
    vfs: int = 0
    backend: str = "veth"
    resource: Optional[str] = None
    mtu: int = 1500
    switch: str = CORE  # the fabric switch its cable lands on (a ToR)
    bus: int = field(default=0, compare=False)  # its PCI bus: Topology.validate() gives each PF its own

    def pci(self, vf: int = -1) -> str:
        """The PF's PCI address 0000:BB:00.0; VF n's 0000:BB:(2 + n // 8).(n % 8)."""
        if vf < 0:
            return f"0000:{self.bus:02x}:00.0"
        return f"0000:{self.bus:02x}:{2 + vf // 8:02x}.{vf % 8}"


@dataclass
class Node:
    name: str
    pfs: list = field(default_factory=list)


@dataclass
class Peer:
    name: str
    switch: str  # "core" or "node/pf"
    addresses: list = field(default_factory=list)
    vlan: int = 0  # 1..4094: the addresses sit on eth0.<vlan> (a peer on a VF VLAN); 0: untagged
    mac: str = ""  # eth0's MAC; "": the kernel's random one (a fixed one makes a layer2 hash repeatable)


@dataclass
class Switch:
    """A fabric switch besides `core` (a ToR, a spine), and the switches it is cabled to."""

    name: str
    uplinks: list = field(default_factory=list)
    mlag: str = ""  # the MLAG pair it is one of (the other switch names the same): one LACP system


def mlag_pairs(switches: list) -> dict:
    """MLAG pair name -> its switches' names."""
    pairs: dict = {}
    for sw in switches:
        if sw.mlag:
            pairs.setdefault(sw.mlag, []).append(sw.name)
    return pairs


def switch_loop(switches: list) -> list:
    """A loop in the switches' cables, as the switch names along it ([] when they form a tree or forest)."""
    tree: dict = {}  # switch -> the switches it is cabled to, cables kept so far
    for sw in switches:
        for up in sw.uplinks:
            path = _path(tree, up, sw.name)
            if path:
                return path + [up]
            tree.setdefault(sw.name, []).append(up)
            tree.setdefault(up, []).append(sw.name)
    return []


def _path(tree: dict, start: str, goal: str) -> list:
    """The switches from `start` to `goal` over the cables in `tree` ([] when not connected)."""
    came: dict = {start: None}
    queue = [start]
    while queue:
        here = queue.pop(0)
        if here == goal:
            path = [here]
            while came[path[-1]] is not None:
                path.append(came[path[-1]])
            return path[::-1]
        for there in tree.get(here, []):
            if there not in came:
                came[there] = here
                queue.append(there)
    return []


@dataclass
class Topology:
    name: str = "lab"
    nodes: list = field(default_factory=list)
    peers: list = field(default_factory=list)
    switches: list = field(default_factory=list)  # Switch, besides core
    derived: bool = False
    pods: Optional[str] = None  # the pod backend (pods.py); None: the deploy's flag or $BONDLAB_PODS decides

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def pools(self) -> dict:
        """resourceName -> [(node name, PF)], the device plugin's view (one pool may span PFs)."""
        out: dict = {}
        for node in self.nodes:
            for pf in node.pfs:
                if pf.resource:
                    out.setdefault(pf.resource, []).append((node.name, pf))
        return out

    def cabling(self) -> list:
        """The fabric as reports show it, a row per switch: name, MLAG pair, the switches it is cabled to, the
        NODE/PF cables that land on it."""
        names = [CORE] + [sw.name for sw in self.switches]
        cabled = {name: [] for name in names}
        for sw in self.switches:
            for up in sw.uplinks:
                cabled[sw.name].append(up)
                cabled[up].append(sw.name)
        mlag = {sw.name: sw.mlag for sw in self.switches}
        lands = {
            name: [f"{n.name}/{pf.name}" for n in self.nodes for pf in n.pfs if pf.switch == name]
            for name in names
        }
        return [
            {"switch": name, "mlag": mlag.get(name, ""), "cabled_to": cabled[name], "pf_cables": lands[name]}
            for name in names
        ]

    def validate(self) -> Topology:
        """Consistency checks shared by the YAML and the Python way in; raises ValueError."""
        if not self.nodes:
            raise ValueError("a lab needs at least one node")
        seen = set()
        for i, node in enumerate(self.nodes):
            for j, pf in enumerate(node.pfs):
                pf.bus = 0x10 + 16 * i + j  # one bus per PF, unique in the lab
            if node.name in seen:
                raise ValueError(f"node {node.name!r} is defined twice")
            seen.add(node.name)
            names = set()
            for pf in node.pfs:
                if not _IFNAME.match(pf.name):
                    raise ValueError(f"node {node.name}: PF name {pf.name!r} is not a valid interface name")
                if pf.name in names:
                    raise ValueError(f"node {node.name}: PF {pf.name!r} is defined twice")
                names.add(pf.name)
                if pf.backend not in BACKENDS:
                    raise ValueError(
                        f"PF {node.name}/{pf.name}: backend must be one of {', '.join(BACKENDS)}"
                    )
                if not 0 <= pf.vfs <= MAX_VFS:
                    raise ValueError(f"PF {node.name}/{pf.name}: vfs must be 0..{MAX_VFS}")
                if pf.resource and not pf.vfs:
                    raise ValueError(f"PF {node.name}/{pf.name}: a resourceName needs vfs > 0")
        fabric = {CORE}
        for sw in self.switches:
            if sw.name in fabric:
                raise ValueError(f"switch {sw.name!r} is defined twice")
            if not _NODE.match(sw.name):
                raise ValueError(f"switch {sw.name!r}: expected a short lower-case name")
            fabric.add(sw.name)
        for sw in self.switches:
            for up in sw.uplinks:
                if up not in fabric or up == sw.name:
                    raise ValueError(
                        f"switch {sw.name}: uplink to unknown switch {up!r} (one of: "
                        f"{', '.join(sorted(fabric - {sw.name}))})"
                    )
        for pair, members in mlag_pairs(self.switches).items():
            if len(members) != 2:
                raise ValueError(
                    f"MLAG pair {pair!r}: an MLAG pair is two switches, {len(members)} name it "
                    f"({', '.join(members)})"
                )
        loop = switch_loop(self.switches)
        if loop:
            raise ValueError(
                f"the switches' cables form a loop ({' - '.join(loop)}): the lab's switches run no spanning "
                "tree; cable them as a tree"
            )
        for node in self.nodes:
            for pf in node.pfs:
                if pf.switch not in fabric:
                    raise ValueError(
                        f"PF {node.name}/{pf.name}: its cable lands on unknown switch {pf.switch!r} "
                        f"(one of: {', '.join(sorted(fabric))})"
                    )
        switches = fabric | {f"{n.name}/{p.name}" for n in self.nodes for p in n.pfs}
        peers = set()
        for peer in self.peers:
            if peer.name in peers:
                raise ValueError(f"peer {peer.name!r} is defined twice")
            peers.add(peer.name)
            if peer.switch not in switches:
                raise ValueError(
                    f"peer {peer.name}: unknown switch {peer.switch!r} "
                    f"(one of: {', '.join(sorted(switches))})"
                )
            for address in peer.addresses:
                ipaddress.ip_interface(address)
        return self


def _ip(value, parent, key, path, subject) -> str:
    try:
        ipaddress.ip_interface(value)
    except ValueError:
        raise SourceError(
            f"expected an address with prefix length like 192.0.2.1/24, got {value!r}",
            where(parent, key),
            path,
            subject,
        ) from None
    if "/" not in str(value):
        raise SourceError(f"{value!r} has no prefix length", where(parent, key), path, subject)
    return str(value)


def parse(doc: dict) -> Topology:
    """A `kind: BondLab` document -> Topology, every error at its file:line with the path and expectation."""
    meta = get(doc, "metadata", dict, "", "BondLab", default={}) or {}
    name = get(meta, "name", str, "metadata", "BondLab", default="lab")
    subject = f"BondLab {name}"
    spec = get(doc, "spec", dict, "", subject, required=True)
    known = {"nodes", "peers", "pods", "switches"}
    for key in spec:
        if key not in known:
            raise SourceError(
                f"unknown key (expected one of: {', '.join(sorted(known))})",
                where(spec, key),
                f"spec.{key}",
                subject,
            )
    topo = Topology(name=name, pods=get(spec, "pods", str, "spec", subject))
    if topo.pods is not None and topo.pods not in POD_BACKENDS:
        raise SourceError(
            f"expected one of {', '.join(POD_BACKENDS)}, got {topo.pods!r}",
            where(spec, "pods"),
            "spec.pods",
            subject,
        )
    raws = get(spec, "switches", list, "spec", subject, default=[]) or []
    for i, raw in enumerate(raws):
        path = f"spec.switches[{i}]"
        expect(raw, dict, raws, i, path, subject)
        for key in raw:
            if key not in ("name", "uplinks", "mlag"):
                raise SourceError(
                    "unknown key (expected name, uplinks, mlag)", where(raw, key), f"{path}.{key}", subject
                )
        sname = get(raw, "name", str, path, subject, required=True)
        if not _NODE.match(sname) or sname == CORE:
            raise SourceError(
                "expected a short lower-case name other than core",
                where(raw, "name"),
                f"{path}.name",
                subject,
            )
        uplinks = get(raw, "uplinks", list, path, subject, default=[]) or []
        for k, up in enumerate(uplinks):
            expect(up, str, uplinks, k, f"{path}.uplinks[{k}]", subject)
        mlag = get(raw, "mlag", str, path, subject, default="")
        if mlag and not _NODE.match(mlag):
            raise SourceError(
                "expected an MLAG pair's name (short, lower-case)",
                where(raw, "mlag"),
                f"{path}.mlag",
                subject,
            )
        topo.switches.append(Switch(sname, list(uplinks), mlag))
    pairs = mlag_pairs(topo.switches)
    for i, raw in enumerate(raws):
        members = pairs.get(raw.get("mlag") or "", [])
        if raw.get("mlag") and len(members) != 2:
            raise SourceError(
                f"expected a pair name that exactly one other switch names too (an MLAG pair is two "
                f"switches), got {raw['mlag']!r} on {len(members)}: {', '.join(members)}",
                where(raw, "mlag"),
                f"spec.switches[{i}].mlag",
                subject,
            )
    fabric = [CORE] + [sw.name for sw in topo.switches]
    for i, raw in enumerate(raws):
        for k, up in enumerate(raw.get("uplinks") or []):
            if up not in fabric or up == raw["name"]:
                raise SourceError(
                    f"expected one of {', '.join(n for n in fabric if n != raw['name'])}, got {up!r}",
                    where(raw["uplinks"], k),
                    f"spec.switches[{i}].uplinks[{k}]",
                    subject,
                )
    nodes = get(spec, "nodes", list, "spec", subject, required=True)
    for i, raw in enumerate(nodes):
        path = f"spec.nodes[{i}]"
        expect(raw, dict, nodes, i, path, subject)
        nname = get(raw, "name", str, path, subject, required=True)
        if not _NODE.match(nname):
            raise SourceError("expected a short lower-case name", where(raw, "name"), f"{path}.name", subject)
        node = Node(nname)
        pfs = get(raw, "pfs", list, path, subject, default=[]) or []
        for j, praw in enumerate(pfs):
            ppath = f"{path}.pfs[{j}]"
            expect(praw, dict, pfs, j, ppath, subject)
            for key in praw:
                if key not in ("name", "vfs", "backend", "resourceName", "mtu", "switch"):
                    raise SourceError(
                        "unknown key (expected name, vfs, backend, resourceName, mtu, switch)",
                        where(praw, key),
                        f"{ppath}.{key}",
                        subject,
                    )
            pf = PF(
                name=get(praw, "name", str, ppath, subject, required=True),
                vfs=get(praw, "vfs", int, ppath, subject, default=0),
                backend=get(praw, "backend", str, ppath, subject, default="veth"),
                resource=get(praw, "resourceName", str, ppath, subject),
                mtu=get(praw, "mtu", int, ppath, subject, default=1500),
                switch=get(praw, "switch", str, ppath, subject, default=CORE),
            )
            for key, ok, what in (
                ("name", _IFNAME.match(pf.name), "an interface name (1-15 characters)"),
                ("vfs", 0 <= pf.vfs <= MAX_VFS, f"a VF count 0..{MAX_VFS}"),
                ("backend", pf.backend in BACKENDS, "one of " + ", ".join(BACKENDS)),
                ("switch", pf.switch in fabric, "a switch of spec.switches: " + ", ".join(fabric)),
            ):
                if not ok:
                    raise SourceError(
                        f"expected {what}, got {praw.get(key)!r}", where(praw, key), f"{ppath}.{key}", subject
                    )
            node.pfs.append(pf)
        topo.nodes.append(node)
    peers = get(spec, "peers", list, "spec", subject, default=[]) or []
    for i, praw in enumerate(peers):
        path = f"spec.peers[{i}]"
        expect(praw, dict, peers, i, path, subject)
        addresses = get(praw, "addresses", list, path, subject, default=[]) or []
        topo.peers.append(
            Peer(
                name=get(praw, "name", str, path, subject, required=True),
                switch=get(praw, "switch", str, path, subject, default="core"),
                addresses=[
                    _ip(a, addresses, k, f"{path}.addresses[{k}]", subject) for k, a in enumerate(addresses)
                ],
                vlan=get(praw, "vlan", int, path, subject, default=0),
                mac=get(praw, "mac", str, path, subject, default="").lower(),
            )
        )
        if topo.peers[-1].mac and not _MAC.match(topo.peers[-1].mac):
            raise SourceError(
                "expected a unicast MAC like 02:62:6c:00:00:01", where(praw, "mac"), f"{path}.mac", subject
            )
        if not 0 <= topo.peers[-1].vlan <= 4094:
            raise SourceError("expected a VLAN id 0..4094", where(praw, "vlan"), f"{path}.vlan", subject)
    try:
        return topo.validate()
    except ValueError as error:
        raise SourceError(str(error), where(doc), "spec", subject) from None
