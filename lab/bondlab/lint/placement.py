"""The lint rules about where pods run and what they share (registered in lint.registry): the NADs their
annotations name, the pools and PFs their bonds' links come from, the nodes their IPAM ranges span.

What they know comes from the lab's pitfall scenarios (scenarios/pitfalls/*.yaml) and the cluster hardware
the lab models (a PF's cable is one ToR port; host-local's leases are per node).
"""

from __future__ import annotations

import difflib
from typing import Iterator

from bondlab.lint.inputs import Bond, Inputs
from bondlab.lint.registry import lookup, per_bond, rule
from bondlab.model import derive, k8s


@rule("nad-not-found", "error")
def _nad_not_found(inputs: Inputs) -> Iterator:
    for pod, text, line in inputs.pods:
        for selection in pod.networks:
            if inputs.nad(pod, selection):
                continue
            namespace = selection.namespace_in(pod.namespace)
            names = sorted(n.name for n in inputs.objects.nads.values() if n.namespace == namespace)
            close = difflib.get_close_matches(selection.name, names, n=1)
            fix = f"did you mean {close[0]!r}? " if close else ""
            fix += (
                f"NADs in namespace {namespace}: {', '.join(names)}"
                if names
                else (f"no NAD in namespace {namespace} in the given files: pass the NAD's file too")
            )
            yield (
                text.file,
                text.find(line, f"{selection.name}"),
                (
                    f"{pod.owner or 'Pod ' + pod.key}: the {k8s.NETWORKS} annotation names NAD "
                    f"{namespace}/{selection.name}, which is not defined (Multus fails the pod's sandbox)"
                ),
                fix,
            )


@rule("same-pool-links", "warning")
@per_bond
def _same_pool(bond: Bond, inputs: Inputs) -> Iterator:
    by_pool: dict = {}
    for link, nad in inputs.link_nads(bond).items():
        if nad is not None and nad.resource:
            by_pool.setdefault(nad.resource, []).append(link)
    links = lookup(bond, "links")
    bonded = {_link_name(item) for item in (links if isinstance(links, list) else [])}
    for pool, links in sorted(by_pool.items()):
        links = [lk for lk in links if lk in bonded]
        if len(links) > 1:
            pfs = inputs.pools.get(pool, [])
            how = f"pool {pool} holds only PF {pfs[0][1].name}" if len(pfs) == 1 else f"one pool, {pool}"
            yield (
                "links",
                (
                    f"links {', '.join(links)} draw VFs from {how}: both may be VFs of one PF, and that PF "
                    "failing takes every leg down at once (pitfall two-vfs-same-pf)"
                ),
                "give each link a NAD whose resourceName pool is a different PF; set requireDistinctPF: true",
            )


def _link_name(item) -> object:
    return item.get("name") if isinstance(item, dict) else None


@rule("lacp-pods-share-pf", "warning")
@per_bond
def _lacp_pods_share_pf(bond: Bond, inputs: Inputs) -> Iterator:
    """802.3ad over VFs: LACP is per PF cable (its ToR port), not per VF; two such bonds of one node on the
    same pools put two LACP actors on each ToR port (pitfall 802.3ad-pods-share-tor-port, bc#149)."""
    if str(lookup(bond, "mode")) not in ("802.3ad", "4") or lookup(bond, "linksInContainer") is not True:
        return
    pools = sorted(
        {nad.resource for nad in inputs.link_nads(bond).values() if nad is not None and nad.resource}
    )
    by_node: dict = {}
    for pod in bond.pods:  # a DaemonSet's pods are one per node: it shares a node with every other pod
        for node in [pod.node or "(any node)"] if not pod.owner else ["(every node)"]:
            by_node.setdefault(node, []).append(pod.owner or f"Pod {pod.key}")
    everywhere = by_node.pop("(every node)", [])
    for node, pods in sorted(by_node.items()):
        pods = everywhere + pods
        if pools and len(pods) > 1:
            yield (
                "mode",
                (
                    f"802.3ad over VFs of pools {', '.join(pools)} by {', '.join(pods)} on {node}: their VFs "
                    "share each PF's cable, so its ToR port hears several LACP actors and answers one at a "
                    "time - every bond flaps in and out of sync and loses traffic (pitfall "
                    "802.3ad-pods-share-tor-port, bond-cni#149)"
                ),
                "one 802.3ad pod per PF pair on a node; for many pods on shared PFs use active-backup or "
                "balance-xor over plain ToR ports (pitfall pods-share-tor-port-active-backup)",
            )


def _host_local_subnets(nad: k8s.Nad) -> list:
    """The subnets a NAD's host-local IPAM hands out (any plugin of it: a bond's, an SR-IOV NAD's)."""
    out = []
    for plugin in derive.plugins(nad.config):
        ipam = plugin.get("ipam") if isinstance(plugin, dict) else None
        if isinstance(ipam, dict) and ipam.get("type") == "host-local":
            out += [str(net) for net, _ in derive.ipam_subnets({"ipam": ipam})]
    return out


@rule("host-local-across-nodes", "warning")
def _host_local_across_nodes(inputs: Inputs) -> Iterator:
    """host-local keeps its leases in each node's /var/lib/cni/networks: pods of one range on two nodes can
    get the same address (seed 004 divides a cluster subnet by host for this reason)."""
    known = list(inputs.nodes)
    for pod, _text, _line in inputs.pods:
        if pod.node and pod.node not in known:
            known.append(pod.node)
    if len(known) < 2:
        return
    for nad in inputs.objects.nads.values():
        subnets = _host_local_subnets(nad)
        if not subnets:
            continue
        on = {  # who attaches it -> where it runs
            pod.owner or f"Pod {pod.key}": "every node" if pod.owner else pod.node or "any node"
            for pod, _text, _line in inputs.pods
            if any(inputs.nad(pod, s) is nad for s in pod.networks)
        }
        nodes = set(on.values())
        apart = len(nodes - {"any node"}) > 1 or "any node" in nodes and len(on) > 1
        if not ("every node" in nodes or apart):
            continue
        file, line = nad.where.rsplit(":", 1)
        text = inputs.texts.get(file)
        at = text.find(int(line), '"host-local"') if text else int(line)
        who = ", ".join(f"{name} ({where})" for name, where in sorted(on.items()))
        yield (
            file,
            at,
            f"NAD {nad.key}: host-local hands out {', '.join(subnets)} on each node from that node's own "
            f"leases, so pods on different nodes can get the same address: {who}",
            "give each node its own range (a NAD per node with disjoint ranges, each pod naming its node's), "
            "or use a cluster-wide IPAM such as whereabouts",
        )
