"""A sensible default world for files that hold only Kubernetes objects, and the pod list to deploy.

From NADs, Pods and DaemonSets alone: the nodes the pods name (else one node, `node1`); one PF per
resourceName with as many VFs as the pods ask for, PF n of every node cabled to ToR `tor-<n-th letter>`
and the ToRs to `core` (the spine) when there are two pools or more, ToRs a and b an MLAG pair; a plain
host link (a PF without VFs) for every interface a NAD takes from the host (bond with linksInContainer
false, host-device); a peer `gw` on the core switch holding every IPAM subnet's gateway, and a peer on every
PF's switch (peer_name()).
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Optional

from bondlab.model import topology
from bondlab.model.k8s import Objects, PodSpec

DEFAULT_NODE = "node1"


def plugins(config: dict) -> list:
    """The plugin configs of a network config or conflist."""
    return list(config.get("plugins") or []) if "plugins" in config else [config]


def expand_pods(objects: Objects, nodes: list) -> list:
    """Pods plus one pod per node for each DaemonSet, every pod bound to a node."""
    out = []
    for pod in objects.pods:
        out.append(pod if pod.node else _on(pod, pod.name, nodes[0]))
    for ds in objects.daemonsets:
        for node in nodes:
            out.append(_on(ds, f"{ds.name}-{node}", node))
    return out


def _on(pod: PodSpec, name: str, node: str) -> PodSpec:
    copied = copy.copy(pod)
    copied.name, copied.node = name, node
    return copied


def resolve(objects: Objects, pod: PodSpec, selection) -> Optional[object]:
    return objects.nads.get(selection.nad_key(pod.namespace))


def needs(objects: Objects, pod: PodSpec) -> dict:
    """resourceName -> devices the pod gets: its request, or one per use if it requested none (the
    network-resources-injector adds those requests on a real cluster)."""
    uses: dict = {}
    for selection in pod.networks:
        nad = resolve(objects, pod, selection)
        if nad is not None and nad.resource:
            uses[nad.resource] = uses.get(nad.resource, 0) + 1
    out = dict(pod.requests)
    for resource, count in uses.items():
        out[resource] = out.get(resource) or count
    return out


def ipam_subnets(config: dict) -> list:
    """(network, gateway or None) for each IPv4/IPv6 subnet an IPAM config names."""
    out = []
    for plugin in plugins(config):
        ipam = plugin.get("ipam") if isinstance(plugin, dict) else None
        if not isinstance(ipam, dict):
            continue
        ranges = [[{"subnet": ipam["subnet"], "gateway": ipam.get("gateway")}]] if "subnet" in ipam else []
        ranges += ipam.get("ranges") or []
        for rangeset in ranges:
            for entry in rangeset if isinstance(rangeset, list) else []:
                try:
                    net = ipaddress.ip_network(entry.get("subnet"), strict=False)
                except (TypeError, ValueError):
                    continue
                out.append((net, entry.get("gateway")))
        for address in ipam.get("addresses") or []:
            try:
                out.append((ipaddress.ip_interface(address.get("address")).network, address.get("gateway")))
            except (AttributeError, TypeError, ValueError):
                continue
    return out


def _host_links(config: dict) -> list:
    out = []
    for plugin in plugins(config):
        if not isinstance(plugin, dict):
            continue
        if plugin.get("type") == "bond" and not plugin.get("linksInContainer"):
            out += [link.get("name") for link in plugin.get("links") or [] if isinstance(link, dict)]
        if plugin.get("type") == "host-device" and isinstance(plugin.get("device"), str):
            out.append(plugin["device"])
    return [name for name in out if isinstance(name, str) and name]


def tors(pools: int) -> list:
    """The ToRs of a cluster with `pools` PF pools, as SR-IOV clusters are cabled: PF n of every node to
    tor-<n-th letter>, every ToR to the spine (`core`); one pool needs none (its PFs land on core). ToRs a
    and b (c and d, ...) are an MLAG pair (`tor-ab`): the dual-ToR cabling that 802.3ad bonds over two PFs
    need (with two independent ToRs only one PF carries: write the topology for that)."""
    if pools < 2:
        return []
    letters = [chr(ord("a") + n) for n in range(min(pools, 26))]
    pair = {n: "tor-" + "".join(letters[n - n % 2 : n - n % 2 + 2]) for n in range(len(letters))}
    return [
        topology.Switch(f"tor-{x}", [topology.CORE], pair[n] if len(pair[n]) == 6 else "")
        for n, x in enumerate(letters)
    ]


def peer_name(nodes: list, node: str, pf: str) -> str:
    """The peer behind a PF's switch: `peer-PF` in a one-node lab, `peer-NODE-PF` when nodes share PF names
    (as real nodes do: every node has an ens1f0)."""
    return f"peer-{pf}"[:15] if len(nodes) == 1 else f"peer-{node}-{pf}"


def derive(objects: Objects, backend: str = "veth", name: str = "lab") -> topology.Topology:
    nodes = sorted({pod.node for pod in objects.pods if pod.node}) or [DEFAULT_NODE]
    pods = expand_pods(objects, nodes)
    used = []
    for pod in pods:
        for selection in pod.networks:
            nad = resolve(objects, pod, selection)
            if nad is not None and nad not in used:
                used.append(nad)
    resources: list = []
    for nad in list(used) + list(objects.nads.values()):
        if nad.resource and nad.resource not in resources:
            resources.append(nad.resource)
    topo = topology.Topology(name=name, derived=True, switches=tors(len(resources)))
    for node in nodes:
        tnode = topology.Node(node)
        for index, resource in enumerate(resources, start=1):
            count = sum(needs(objects, pod).get(resource, 0) for pod in pods if pod.node == node)
            tor = topo.switches[(index - 1) % len(topo.switches)].name if topo.switches else topology.CORE
            tnode.pfs.append(topology.PF(f"ens{index}f0", max(count, 1), backend, resource, switch=tor))
        for nad in used:
            for link in _host_links(nad.config):
                if all(pf.name != link for pf in tnode.pfs):
                    tnode.pfs.append(topology.PF(link))
        topo.nodes.append(tnode)
    subnets = []
    for nad in used:
        for net, gateway in ipam_subnets(nad.config):
            if all(net != known for known, _ in subnets):
                subnets.append((net, gateway))
    # VFs that all sit on one VLAN (the SR-IOV NADs' "vlan", set through the PF and enforced at the
    # switch port): the peers that stand for the rest of that network sit on it too.
    vlans = {
        str(plugin.get("vlan") or 0)
        for nad in used
        if nad.resource
        for plugin in plugins(nad.config)
        if isinstance(plugin, dict)
    }
    vlan = int(vlans.pop()) if len(vlans) == 1 and next(iter(vlans)).isdigit() else 0
    vlan = vlan if vlan <= 4094 else 0
    if subnets:
        gw = [f"{gateway or net[-2]}/{net.prefixlen}" for net, gateway in subnets if net.num_addresses > 4]
        topo.peers.append(topology.Peer("gw", "core", gw, vlan))
        for index, (node, pf) in enumerate((n.name, p) for n in topo.nodes for p in n.pfs if p.vfs):
            addresses = [f"{net[-3 - index]}/{net.prefixlen}" for net, _ in subnets if net.num_addresses > 8]
            name = peer_name(nodes, node, pf.name)
            topo.peers.append(topology.Peer(name, f"{node}/{pf.name}", addresses, vlan))
    return topo.validate()
