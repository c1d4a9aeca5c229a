"""`bondlab inspect`: what a deployed lab looks like right now: its typed records (world.records) joined with
the kernel's view of each link (`ip -j -d addr` per netns).

collect() gives one JSON-able mapping (`--format json`, the support bundle, `bondlab graph`): the nodes and
their netns, the fabric's switches (`core`, the ToRs and spines with their cables, and one bridge per PF
with the switch its cable lands on), every PF with its VFs (fake PCI
address, switch port, owner pod and interface, carrier), every pod (netns or container, its bond with mode,
active slave and each slave's MII state, carrier and cable, its addresses) and the traffic peers. render()
prints it as tables.
"""

from __future__ import annotations

from bondlab.util.tables import table
from bondlab.world import vf as vfs
from bondlab.world.labstate import LabState
from bondlab.world.netns import Netns, list_netns
from bondlab.world.records import Switch
from bondlab.world.switch import CORE


def _links(netns: str, present: set) -> dict:
    if netns not in present:
        return {}
    return {link["ifname"]: link for link in Netns(netns).ip_json("-d", "addr", "show") or []}


def _carrier(link) -> str:
    if not link:
        return "gone"
    return "up" if "LOWER_UP" in link.get("flags", []) else "DOWN"


def _inet(link) -> list:
    return [
        f"{a['local']}/{a['prefixlen']}" for a in (link or {}).get("addr_info", []) if a["family"] == "inet"
    ]


def _bond(pod, links: dict) -> dict:
    link = links.get(pod.bond)
    data = ((link or {}).get("linkinfo") or {}).get("info_data") or {}
    slaves = []
    for name in pod.slaves:
        slave = links.get(name) or {}
        info = (slave.get("linkinfo") or {}).get("info_slave_data") or {}
        cable = pod.cable(name)
        slaves.append(
            {
                "ifname": name,
                "mii": info.get("mii_status", "gone" if not slave else "?"),
                "carrier": _carrier(slave),
                "active": data.get("active_slave") == name,
                "pf": cable.pf if cable else None,
                "vf": cable.vf if cable else None,
                "port": cable.port if cable else None,
            }
        )
    return {
        "ifname": pod.bond,
        "mode": data.get("mode", "?"),
        "active": data.get("active_slave"),
        "miimon": data.get("miimon"),
        "carrier": _carrier(link),
        "addresses": _inet(link),
        "slaves": slaves,
    }


def collect(state: LabState) -> dict:
    """The lab as one mapping (see the module's doc); every list in the order deploy made it."""
    present = list_netns()
    pods = {pod.key: (pod, _links(pod.netns, present)) for pod in state.pods}
    owner = {cable.pci: (pod.key, cable.ifname) for pod in state.pods for cable in pod.cables if cable.pci}
    nodes = state.nodes
    node_links = {name: _links(ns, present) for name, ns in nodes.items()}
    pfs = []
    for pf in state.pfs:
        on_node = node_links.get(pf.node, {})
        settings = vfs.vf_configs(state, pf) if pf.vfs and pf.nodens in present else {}
        vf_rows = []
        for entry in pf.vfs:
            key, ifname = owner.get(entry.pci, (None, None))
            link = pods[key][1].get(ifname) if key else on_node.get(entry.netdev)
            rates = settings.get(entry.index) or vfs.DEFAULTS
            vf_rows.append(
                {
                    "index": entry.index,
                    "pci": entry.pci,
                    "port": entry.port,
                    "netdev": entry.netdev,
                    "pod": key,
                    "ifname": ifname,
                    "carrier": _carrier(link),
                    "max_tx_rate": rates.get("max_tx_rate") or 0,
                    "min_tx_rate": rates.get("min_tx_rate") or 0,
                }
            )
        pfs.append(
            {
                "node": pf.node,
                "name": pf.name,
                "path": pf.path,
                "netns": pf.nodens,
                "backend": pf.backend,
                "pci": pf.pci,
                "mtu": pf.mtu,
                "resource": pf.resource,
                "switch": pf.switch,
                "port": pf.port,
                "uplink": pf.uplink,
                "carrier": _carrier(on_node.get(pf.name)) if not pf.vfs else None,
                "vfs": vf_rows,
            }
        )
    pod_rows = []
    for key, (pod, links) in pods.items():
        pod_rows.append(
            {
                "key": key,
                "node": pod.node,
                "netns": pod.netns,
                "container": pod.container or None,
                "bond": _bond(pod, links) if pod.bond else None,
                "cables": [cable.to_dict() for cable in pod.cables],
                "addresses": {name: _inet(link) for name, link in links.items() if _inet(link)},
            }
        )
    peers = []
    for name, peer in sorted(state.peers.items()):
        link = _links(peer.netns, present).get(peer.device)
        peers.append(
            {
                "name": name,
                "netns": peer.netns,
                "switch": peer.switch,
                "vlan": peer.vlan or None,
                "addresses": [f"{a['local']}/{a['prefixlen']}" for a in (link or {}).get("addr_info", [])],
                "carrier": _carrier(link),
            }
        )
    fabric = state.netns_name("fabric")
    ports = _links(fabric, present)
    fabric_switches = list(state.switches.values()) or [Switch(CORE, CORE)]  # a lab recorded before ToRs
    switches = [
        {
            "name": sw.name,
            "netns": fabric,
            "pf": None,
            "mlag": sw.mlag or None,  # the MLAG pair it speaks LACP as one system with
            "cables": [
                {"to": link.other, "port": link.port, "carrier": _carrier(ports.get(link.port))}
                for link in sw.links
            ],
        }
        for sw in fabric_switches
    ] + [{"name": pf.switch, "netns": fabric, "pf": pf.path, "cable_to": pf.cable_to} for pf in state.pfs]
    return {
        "name": state.name,
        "id": state.id,
        "plugin": state.plugin,
        "nodes": [{"name": name, "netns": ns} for name, ns in nodes.items()],
        "switches": switches,
        "pfs": pfs,
        "pods": pod_rows,
        "peers": peers,
    }


def _rate(vf: dict) -> str:
    """A VF's max_tx_rate (and min_tx_rate) in Mbps: `max 50`, `max 50 min 10`."""
    words = [f"{word} {vf[key]}" for word, key in (("max", "max_tx_rate"), ("min", "min_tx_rate")) if vf[key]]
    return " ".join(words) or "-"


def render(state: LabState, got: dict = None) -> str:
    got = got or collect(state)
    head = f"lab {got['name']} (id {got['id']}, plugin {got.get('plugin') or '?'})"
    # a TX RATE column only in a lab where some VF has a rate: other labs' tables stay as they were
    rated = any(vf.get("max_tx_rate") or vf.get("min_tx_rate") for pf in got["pfs"] for vf in pf["vfs"])
    vf_header = ("NODE", "PF", "BACKEND", "VF", "PCI", "POD", "IFACE", "CARRIER") + (
        ("TX RATE",) if rated else ()
    )
    vf_rows = []
    for pf in got["pfs"]:
        if not pf["vfs"]:
            row = (pf["node"], pf["name"], pf["backend"], "-", pf["pci"], "(host link)", "-", pf["carrier"])
            vf_rows.append((*row, "-") if rated else row)
        for vf in pf["vfs"]:
            ifname = vf["ifname"] if vf["pod"] else vf["netdev"]
            row = (pf["node"], pf["name"], pf["backend"], vf["index"], vf["pci"], vf["pod"] or "-", ifname)
            vf_rows.append((*row, vf["carrier"], *([_rate(vf)] if rated else [])))
    pod_rows, bond_rows = [], []
    for pod in got["pods"]:
        pod_rows.append((pod["key"], pod["node"], pod["container"] or pod["netns"]))
        bond = pod["bond"]
        if not bond:
            continue
        slaves = " ".join(f"{s['ifname']}:{s['carrier']}" for s in bond["slaves"])
        bond_rows.append(
            (
                pod["key"],
                pod["node"],
                bond["ifname"],
                bond["mode"],
                bond["active"] or "-",
                slaves,
                bond["carrier"],
                " ".join(bond["addresses"]) or "-",
            )
        )
    fabric_rows = [
        (
            sw["name"],
            " ".join(
                pf["pf"] for pf in got["switches"] if pf["pf"] and pf.get("cable_to", CORE) == sw["name"]
            )
            or "-",
            " ".join(f"{c['to']}:{c['carrier']}" for c in sw["cables"]) or "-",
            sw.get("mlag") or "-",
        )
        for sw in got["switches"]
        if not sw["pf"]
    ]
    peer_rows = [
        (p["name"], p["switch"], p["vlan"] or "-", p["netns"], " ".join(p["addresses"]) or "-", p["carrier"])
        for p in got["peers"]
    ]
    tables = [
        table(vf_rows, vf_header),
        table(pod_rows, ("POD", "NODE", "NETNS")),
        table(bond_rows, ("POD", "NODE", "BOND", "MODE", "ACTIVE", "SLAVES", "CARRIER", "ADDRESS")),
        table(peer_rows, ("PEER", "SWITCH", "VLAN", "NETNS", "ADDRESS", "CARRIER")),
    ]
    if len(fabric_rows) > 1:  # a fabric of ToRs: which PF's cable lands where, and the switches' cables
        tables.insert(0, table(fabric_rows, ("SWITCH", "PF CABLES", "CABLED TO", "MLAG")))
    return "\n\n".join([head, *tables])
