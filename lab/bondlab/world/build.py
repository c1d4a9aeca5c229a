"""Build the lab's world from a Topology, and the undo handlers that take it apart.

Namespaces are `bl-<lab id>-<role>` (fabric, node-<name>, peer-<name>, pod-<n>), and each one's `lo`
carries the alias `bondlab-o-<lab id>`; every link the lab makes carries the same alias. `clean` finds
leftovers by that mark only.
"""

from __future__ import annotations

from pathlib import Path

from bondlab.world import switch, vf
from bondlab.world.labstate import LabError, LabState
from bondlab.world.netns import Netns, batch, delete, run
from bondlab.world.records import Peer, Switch, SwitchLink


def make_netns(state: LabState, role: str) -> Netns:
    ns = Netns(state.netns_name(role))
    state.defer("netns-del", name=ns.name)  # logged first: a half-made netns is still removed
    run(["ip", "netns", "add", ns.name])
    batch(ns.name, ["link set lo up", f"link set lo alias {state.mark}"])
    return ns


def build(state: LabState, topo, progress=None) -> None:
    """Create fabric, nodes, PFs with VFs and switches, and peers. Every step is in the undo log."""
    fabric = make_netns(state, "fabric")
    build_switches(state, fabric, topo.switches)
    state.nodes = {}
    for i, node in enumerate(topo.nodes):
        nodens = make_netns(state, f"node-{node.name}")
        state.nodes[node.name] = nodens.name
        for j, pf in enumerate(node.pfs):
            record = vf.create_pf(state, nodens, fabric, node.name, pf, f"n{i}p{j}")
            state.pfs.append(record)
            vf.register(state, record)
            state.save()
            if progress:
                progress(f"node {node.name}: PF {pf.name} ({pf.backend}, {pf.vfs} VFs)")
    for k, peer in enumerate(topo.peers):
        ns = make_netns(state, f"peer-{peer.name}")
        port = f"pr{k}"
        if "/" in peer.switch:  # NODE/PF: on that PF's embedded switch
            bridge = state.pf(*peer.switch.split("/", 1)).switch
        else:
            bridge = state.switch(peer.switch).bridge
        record = Peer(peer.name, ns.name, peer.switch, tuple(peer.addresses), peer.vlan, port)
        dev = record.device
        vlan = [f"link add link eth0 name {dev} type vlan id {peer.vlan}", f"link set {dev} up"]
        if any(":" in address for address in peer.addresses):
            # No DAD on an IPv6 peer's links (its link-local address too): a peer stands for a network's
            # long-established hosts (its gateway), past DAD before any pod starts. Made moments before the
            # pods, gw's addresses were seen `dadfailed` (options/ns-ip6-target, -link-local): a bond's NS
            # monitor probing them while the bond's own address is still tentative sends from :: (the
            # kernel's bond_ns_send_all), which is a rival DAD probe.
            ns.exec("sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0")
        batch(
            ns.name,
            [
                f"link add name eth0 type veth peer name {port} netns {fabric.name}",
                f"link set eth0 alias {state.mark}",
                *([f"link set eth0 address {peer.mac}"] if peer.mac else []),
                "link set eth0 up",
                *(vlan if dev != "eth0" else []),
                *(f"addr add {address} dev {dev}" for address in peer.addresses),
            ],
        )
        batch(fabric.name, switch.attach_lines([port], bridge, state.mark))
        state.peers[peer.name] = record
    state.save()


def build_switches(state: LabState, fabric: Netns, switches: list) -> None:
    """`core` and the topology's switches (bridges `sw<k>`), each cable between two of them a veth pair
    (`sl<n>a` on the switch that names the uplink, `sl<n>b` on the uplink)."""
    bridges = {switch.CORE: switch.CORE, **{sw.name: f"sw{k}" for k, sw in enumerate(switches, start=1)}}
    for bridge in bridges.values():
        switch.create_fabric_switch(fabric, bridge, state.mark)
    links: dict = {name: [] for name in bridges}
    cables = [(sw.name, up) for sw in switches for up in sw.uplinks]
    for n, (name, up) in enumerate(cables, start=1):
        port, far_port = f"sl{n}a", f"sl{n}b"
        switch.link_switches(fabric, bridges[name], port, bridges[up], far_port, state.mark)
        links[name].append(SwitchLink(up, port, far_port))
        links[up].append(SwitchLink(name, far_port, port))
    pairs = {sw.name: sw.mlag for sw in switches}
    state.switches = {
        name: Switch(name, bridge, tuple(links[name]), pairs.get(name, ""))
        for name, bridge in bridges.items()
    }
    state.save()


def node_state_dir(state: LabState, node: str) -> Path:
    """The node's own /var/lib/cni (host-local's leases, the bond plugin's records): one per node, as nodes
    of a cluster each have their disk; inside the lab's directory, so it goes with the lab."""
    path = state.dir / "nodes" / node / "var-lib-cni"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _link_states(state: LabState, record) -> dict:
    return {v.index: vf.vf_config(state, record, v.index).get("link_state") for v in record.vfs}


def cut_pf(state: LabState, node: str, name: str, restore: bool = False) -> None:
    """Pull (or plug back) a PF's cable: its uplink and the carrier of its link-state-auto VFs."""
    record = state.pf(node, name)
    fabric, sw = Netns(state.netns_name("fabric")), switch.PfSwitch(record.switch)
    switch.set_cable(fabric, sw, _link_states(state, record), record.backend == "veth", up=restore)


def pf_cable_ports(state: LabState, node: str, name: str, restore: bool = False) -> list:
    """The fabric ports cut_pf() sets down (or up), for callers that set them themselves."""
    record = state.pf(node, name)
    sw = switch.PfSwitch(record.switch)
    return switch.cable_ports(sw, _link_states(state, record), record.backend == "veth", restore)


def switch_ports(state: LabState, name: str, restore: bool = False) -> list:
    """The fabric ports a switch takes with it when it dies (or brings back): the cable of every PF landing on
    it (with the PF's link-state-auto VFs: the PF loses carrier), its cables to other switches, and the
    ports of the peers hanging off it."""
    sw = state.switch(name)
    out = [
        port
        for pf in state.pfs
        if pf.cable_to == name
        for port in pf_cable_ports(state, pf.node, pf.name, restore)
    ]
    out += [link.port for link in sw.links]
    return out + [peer.port for peer in state.peers.values() if peer.switch == name and peer.port]


def switch_link_ports(state: LabState, a: str, b: str) -> list:
    """The port of the cable between fabric switches `a` and `b` on `a` (its far end loses carrier)."""
    for link in state.switch(a).links:
        if link.other == b:
            return [link.port]
    cabled = ", ".join(link.other for link in state.switch(a).links) or "none"
    raise LabError(f"no cable between switches {a} and {b} (switch {a} is cabled to: {cabled})")


def cut_vf(state: LabState, node: str, name: str, index: int, restore: bool = False) -> None:
    switch.set_port(Netns(state.netns_name("fabric")), state.pf(node, name).vf(index).port, restore)


# -- undo handlers (op name -> function(state, **args)) ---------------------------------------------
def _netns_del(state: LabState, name: str) -> None:
    delete(name)


def _nsim_del(state: LabState, id: int) -> None:
    vf.delete_nsim(id)


HANDLERS = {"netns-del": _netns_del, "nsim-del": _nsim_del}
