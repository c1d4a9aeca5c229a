"""`bondlab graph`: a picture of a deployed lab, from what inspection.collect() read (records and kernel).

Boxes: each node holds its PFs (each with its VFs) and its pods (each with its bond and the bond's slaves);
the fabric holds its switches (`core`, ToRs, spines) and one switch per PF; the peers hang off their switch.
Lines: bond to each slave (the active one bold and labelled), slave to the VF (or host link) it is, VF and
PF to the PF's switch, PF switch to the fabric switch its cable lands on (the uplink), fabric switches to
each other, peer to its switch; a link whose carrier is down is dashed.
Written as Mermaid (`graph LR`), Graphviz DOT, or SVG (DOT through Debian's graphviz `dot`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field


@dataclass
class Box:
    id: str
    label: str
    children: list = field(default_factory=list)  # Box (a group) or (id, label) (a vertex)


@dataclass(frozen=True)
class Edge:
    a: str
    b: str
    label: str = ""
    bold: bool = False
    down: bool = False


def ident(*parts) -> str:
    return re.sub(r"\W", "_", "_".join(str(p) for p in parts))


def build(lab: dict) -> tuple:
    """(top-level boxes, edges) of the lab mapping inspection.collect() returns."""
    nodes = {n["name"]: Box(ident("node", n["name"]), f"node {n['name']}") for n in lab["nodes"]}
    fabric = Box("fabric", "fabric")
    edges = []
    switch_of = {}  # a fabric switch's name or a PF's NODE/PF -> its vertex
    cable_to = {}
    for sw in lab["switches"]:
        switch_of[sw["pf"] or sw["name"]] = ident("sw", sw["name"])
        label = f"PF {sw['pf']}'s switch" if sw["pf"] else f"switch {sw['name']}"  # the NIC's own, or a ToR
        label += f" (MLAG {sw['mlag']})" if sw.get("mlag") else ""
        fabric.children.append((switch_of[sw["pf"] or sw["name"]], label))
        cable_to[sw["pf"]] = sw.get("cable_to", "core")
    cables: dict = {}  # each cable once, down when either end has no carrier
    for sw in lab["switches"]:
        for cable in sw.get("cables", []):
            pair = tuple(sorted((sw["name"], cable["to"])))
            cables[pair] = cables.get(pair, False) or cable["carrier"] != "up"
    edges += [Edge(switch_of[a], switch_of[b], down=down) for (a, b), down in cables.items()]
    vf_ids = {}
    for pf in lab["pfs"]:
        box = nodes.setdefault(pf["node"], Box(ident("node", pf["node"]), f"node {pf['node']}"))
        pf_box = Box(ident("pf", pf["path"]), f"PF {pf['name']} ({pf['backend']})")
        sw = switch_of[pf["path"]]
        pf_id = ident("pfport", pf["path"])
        pf_box.children.append((pf_id, pf["name"]))
        edges.append(Edge(pf_id, sw, down=pf["carrier"] == "DOWN"))
        for vf in pf["vfs"]:
            vf_id = ident("vf", pf["path"], vf["index"])
            vf_ids[(pf["path"], vf["index"])] = vf_id
            pf_box.children.append((vf_id, f"VF {vf['index']} {vf['pci']}"))
            edges.append(Edge(vf_id, sw, vf["port"], down=vf["carrier"] != "up"))
        box.children.append(pf_box)
        edges.append(Edge(sw, switch_of[cable_to.get(pf["path"], "core")], "uplink"))
    for pod in lab["pods"]:
        box = nodes.setdefault(pod["node"], Box(ident("node", pod["node"]), f"node {pod['node']}"))
        pod_box = Box(ident("pod", pod["key"]), f"pod {pod['key']}")
        bond = pod["bond"]
        if bond:
            bond_id = ident("bond", pod["key"], bond["ifname"])
            addresses = " ".join(bond["addresses"])
            pod_box.children.append((bond_id, f"{bond['ifname']} {bond['mode']} {addresses}".strip()))
            for slave in bond["slaves"]:
                slave_id = ident("if", pod["key"], slave["ifname"])
                pod_box.children.append((slave_id, f"{slave['ifname']} mii {slave['mii']}"))
                down = slave["carrier"] != "up"
                edges.append(
                    Edge(bond_id, slave_id, "active" if slave["active"] else "", slave["active"], down)
                )
                target = vf_ids.get((slave["pf"], slave["vf"])) or ident("pfport", slave["pf"])
                if slave["pf"]:
                    edges.append(Edge(slave_id, target, down=down))
        box.children.append(pod_box)
    peers = []
    for peer in lab["peers"]:
        peer_id = ident("peer", peer["name"])
        peers.append((peer_id, f"peer {peer['name']} {' '.join(peer['addresses'][:1])}".strip()))
        vlan = f"vlan {peer['vlan']}" if peer["vlan"] else ""
        sw = switch_of.get(peer["switch"], switch_of["core"])  # a fabric switch, or the NODE/PF of a PF's
        edges.append(Edge(peer_id, sw, vlan, down=peer["carrier"] != "up"))
    return [*nodes.values(), fabric, *peers], edges


def _quote(text: str) -> str:
    return text.replace('"', "'")


def _tree_lines(boxes: list, opening, closing: str, leaf) -> list:
    """The boxes as nested lines, two spaces a level: opening(box), its children, closing; leaf(id, label)."""
    lines: list = []

    def put(item, depth: int) -> None:
        pad = "  " * depth
        if isinstance(item, Box):
            lines.append(pad + opening(item))
            for child in item.children:
                put(child, depth + 1)
            lines.append(pad + closing)
        else:
            lines.append(pad + leaf(*item))

    for box in boxes:
        put(box, 1)
    return lines


def mermaid(lab: dict) -> str:
    boxes, edges = build(lab)
    lines = ["graph LR"] + _tree_lines(
        boxes,
        lambda box: f'subgraph {box.id}["{_quote(box.label)}"]',
        "end",
        lambda node_id, label: f'{node_id}["{_quote(label)}"]',
    )
    for edge in edges:
        arrow = "===" if edge.bold else "-.-" if edge.down else "---"
        label = f"|{_quote(edge.label)}|" if edge.label else ""
        lines.append(f"  {edge.a} {arrow}{label} {edge.b}")
    return "\n".join(lines) + "\n"


def dot(lab: dict) -> str:
    boxes, edges = build(lab)
    lines = [f'graph "{_quote(lab["name"])}" {{', "  rankdir=LR;", "  node [shape=box, fontsize=10];"]
    lines += _tree_lines(
        boxes,
        lambda box: f'subgraph cluster_{box.id} {{ label="{_quote(box.label)}";',
        "}",
        lambda node_id, label: f'{node_id} [label="{_quote(label)}"];',
    )
    for edge in edges:
        attrs = [f'label="{_quote(edge.label)}"'] if edge.label else []
        attrs += ["penwidth=3", 'color="darkgreen"'] if edge.bold else []
        attrs += ["style=dashed", 'color="red"'] if edge.down else []
        lines.append(f"  {edge.a} -- {edge.b}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"


class GraphError(Exception):
    pass


def svg(lab: dict) -> str:
    """The DOT picture drawn by graphviz's `dot` (Debian package graphviz; `bondlab doctor --fix`)."""
    if not shutil.which("dot"):
        raise GraphError(
            "`dot` is not installed (Debian package graphviz; `bondlab doctor --fix` installs it)"
        )
    proc = subprocess.run(["dot", "-Tsvg"], input=dot(lab), capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise GraphError(f"dot failed: {proc.stderr.strip()}")
    return proc.stdout


FORMATS = {"mermaid": mermaid, "dot": dot, "svg": svg}
