"""Build the lab's world from a Topology, and the undo handlers that take it apart.

Namespaces are `bl-<lab id>-<role>` (fabric, node-<name>, peer-<name>, pod-<n>), and each one's `lo`
carries the alias `bondlab-o-<lab id>`; every link the lab makes carries the same alias. `clean` finds
leftovers by that mark only.
"""

from __future__ import annotations

from bondlab.world import switch, vf
from bondlab.world.labstate import LabState
from bondlab.world.netns import Netns, batch, delete, run
from bondlab.world.records import Peer


def make_netns(state: LabState, role: str) -> Netns:
    ns = Netns(state.netns_name(role))
    state.defer("netns-del", name=ns.name)  # logged first: a half-made netns is still removed
    run(["ip", "netns", "add", ns.name])
    batch(ns.name, ["link set lo up", f"link set lo alias {state.mark}"])
    return ns


def build(state: LabState, topo, progress=None) -> None:
    """Create fabric, nodes, PFs with VFs and switches, and peers. Every step is in the undo log."""
    fabric = make_netns(state, "fabric")
    switch.create_core(fabric, state.mark)
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
        bridge = switch.CORE if peer.switch == switch.CORE else state.pf(*peer.switch.split("/", 1)).switch
        record = Peer(peer.name, ns.name, peer.switch, tuple(peer.addresses), peer.vlan)
        dev = record.device
        vlan = [f"link add link eth0 name {dev} type vlan id {peer.vlan}", f"link set {dev} up"]
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


def cut_vf(state: LabState, node: str, name: str, index: int, restore: bool = False) -> None:
    switch.set_port(Netns(state.netns_name("fabric")), state.pf(node, name).vf(index).port, restore)


# -- undo handlers (op name -> function(state, **args)) ---------------------------------------------
def _netns_del(state: LabState, name: str) -> None:
    delete(name)


def _nsim_del(state: LabState, id: int) -> None:
    vf.delete_nsim(id)


HANDLERS = {"netns-del": _netns_del, "nsim-del": _nsim_del}
