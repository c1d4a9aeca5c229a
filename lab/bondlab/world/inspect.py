"""`bondlab inspect`: what a deployed lab looks like right now, read from the kernel (`ip -j -d`).

Three tables: every VF (node, PF, backend, VF, fake PCI address, owner pod and interface, carrier),
every pod's bonds (mode, active slave, slaves with their carrier, addresses), and the traffic peers
(switch they hang off, VLAN, netns, addresses, carrier).
"""

from __future__ import annotations

from bondlab.world.labstate import LabState
from bondlab.world.netns import Netns, list_netns


def _links(netns: str) -> dict:
    if netns not in list_netns():
        return {}
    return {link["ifname"]: link for link in Netns(netns).ip_json("-d", "addr", "show") or []}


def _carrier(link) -> str:
    if not link:
        return "gone"
    return "up" if "LOWER_UP" in link.get("flags", []) else "DOWN"


def table(rows: list, header: tuple) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def collect(state: LabState) -> dict:
    pods = {pod.key: (pod, _links(pod.netns)) for pod in state.pods}
    owner = {cable.pci: (pod.key, cable.ifname) for pod in state.pods for cable in pod.cables if cable.pci}
    nodes = {name: _links(ns) for name, ns in state.data.get("nodes", {}).items()}
    vfs = []
    for pf in state.pfs:
        on_node = nodes.get(pf.node, {})
        if not pf.vfs:
            host = _carrier(on_node.get(pf.name))
            vfs.append((pf.node, pf.name, pf.backend, "-", pf.pci, "(host link)", "-", host))
        for entry in pf.vfs:
            key, ifname = owner.get(entry.pci, ("-", "-"))
            link = pods[key][1].get(ifname) if key != "-" else on_node.get(entry.netdev)
            ifname = ifname if key != "-" else entry.netdev
            vfs.append((pf.node, pf.name, pf.backend, entry.index, entry.pci, key, ifname, _carrier(link)))
    bonds = []
    for key, (pod, links) in pods.items():
        for name, link in links.items():
            info = link.get("linkinfo") or {}
            if info.get("info_kind") != "bond":
                continue
            data = info.get("info_data") or {}
            slaves = [f"{n}:{_carrier(s)}" for n, s in links.items() if s.get("master") == name]
            addrs = [
                f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", []) if a["family"] == "inet"
            ]
            bonds.append(
                (
                    key,
                    pod.node,
                    name,
                    data.get("mode", "?"),
                    data.get("active_slave", "-"),
                    " ".join(slaves),
                    _carrier(link),
                    " ".join(addrs) or "-",
                )
            )
    peers = []
    for name, peer in sorted(state.peers.items()):
        link = _links(peer.netns).get(peer.device)
        addrs = [f"{a['local']}/{a['prefixlen']}" for a in (link or {}).get("addr_info", [])]
        row = (name, peer.switch, peer.vlan or "-", peer.netns, " ".join(addrs) or "-", _carrier(link))
        peers.append(row)
    return {"vfs": vfs, "bonds": bonds, "peers": peers}


def render(state: LabState) -> str:
    got = collect(state)
    head = f"lab {state.data['name']} (id {state.id}, plugin {state.data.get('plugin', '?')})"
    vfs = table(got["vfs"], ("NODE", "PF", "BACKEND", "VF", "PCI", "POD", "IFACE", "CARRIER"))
    bonds = table(got["bonds"], ("POD", "NODE", "BOND", "MODE", "ACTIVE", "SLAVES", "CARRIER", "ADDRESS"))
    peers = table(got["peers"], ("PEER", "SWITCH", "VLAN", "NETNS", "ADDRESS", "CARRIER"))
    return f"{head}\n\n{vfs}\n\n{bonds}\n\n{peers}"
