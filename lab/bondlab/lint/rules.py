"""The lint rules, each declared once in RULES: a code, a severity and a check that yields findings.

What they know comes from the plugin's parser (bondcni.config, the same code as ADD) and from the lab's
pitfall scenarios (scenarios/pitfalls/*.yaml) and the upstream bond-cni reference.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

from bondcni import config as plugin_config
from bondcni import fields as plugin_fields
from bondcni import recent_options
from bondcni.errors import CniError
from bondlab.lint.inputs import Bond, Inputs
from bondlab.model import derive, k8s

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    severity: str
    code: str
    message: str
    fix: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str
    check: Callable  # (Inputs) -> Iterator[(file, line, message, fix)]


RULES: list = []


def rule(code: str, severity: str):
    def register(check: Callable) -> Callable:
        assert severity in SEVERITIES and all(r.code != code for r in RULES), code
        RULES.append(Rule(code, severity, check))
        return check

    return register


def per_bond(check: Callable) -> Callable:
    """A check of one bond config (bond, inputs) -> (key, message, fix), run on every bond found."""

    def run(inputs: Inputs) -> Iterator:
        for bond in inputs.bonds:
            for key, message, fix in check(bond, inputs):
                yield (
                    bond.text.file,
                    bond.line_of(key) if key else bond.line,
                    f"{bond.subject}: {message}",
                    fix,
                )

    return run


def lookup(bond: Bond, key: str):
    """A field as the plugin reads it (its own lookup: Go's case-insensitive binding); None when absent."""
    value = plugin_fields.json_field(bond.config, key)
    return None if value is plugin_config.MISSING else value


def _int(value) -> int:
    """miimon and friends as the parser takes them (an int or upstream's string of digits), 0 otherwise."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# ----------------------------------------------------------------------------------------------------------


def parse(bond: Bond):
    """The plugin's verdict on a config: its BondConf or the CniError ADD would return."""
    try:
        return plugin_config.parse_obj(bond.config)
    except CniError as error:
        return error


@rule("parse-error", "error")
@per_bond
def _parse_error(bond: Bond, inputs: Inputs) -> Iterator:
    verdict = parse(bond)
    if isinstance(verdict, CniError):
        message = verdict.msg + (f": {verdict.details}" if verdict.details else "")
        key = verdict.msg.split(":", 1)[0] if ":" in verdict.msg else ""
        yield (
            key.split(" ")[0].split("[")[0],
            f"the plugin refuses this config (ADD fails): {message}",
            ("fix the field the message names; this is the error the pod's ADD would return"),
        )


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


@rule("spoofchk-failovermac", "warning")
@per_bond
def _spoofchk(bond: Bond, inputs: Inputs) -> Iterator:
    if lookup(bond, "mode") != "active-backup" or lookup(bond, "failOverMac") not in (None, 0, "none"):
        return
    for link, nad in sorted(inputs.link_nads(bond).items()):
        sriov = [p for p in (nad and _plugins(nad)) or [] if p.get("type") == "sriov"]
        if any(str(p.get("spoofchk", "")).lower() == "on" for p in sriov):
            yield (
                "failOverMac" if lookup(bond, "failOverMac") is not None else "mode",
                (
                    f"link {link} comes from NAD {nad.key} with spoofchk on, and failOverMac is 0: after a "
                    "failover the backup VF sends with the first VF's MAC and its PF drops it (pitfall "
                    "spoofchk-failovermac-0)"
                ),
                'set "failOverMac": 1 (active), or spoofchk off on the SR-IOV NADs',
            )
            return


def _plugins(nad: k8s.Nad) -> list:
    return [p for p in derive.plugins(nad.config) if isinstance(p, dict)]


@rule("no-link-monitor", "warning")
@per_bond
def _no_monitor(bond: Bond, inputs: Inputs) -> Iterator:
    if not _int(lookup(bond, "miimon")) and not _int(lookup(bond, "arpInterval")):
        yield (
            "miimon" if lookup(bond, "miimon") is not None else "",
            (
                "no link monitor (miimon 0 or absent, no arpInterval): the bond never notices a dead link "
                "and never fails over"
            ),
            '"miimon": "100", or arpInterval with arpIpTarget to see failures past the first switch',
        )


# option -> the modes the kernel uses it in
REFUSED_OFF_MODE = {  # the plugin's parser refuses these outside their modes (ADD fails)
    "primary": plugin_config.PRIMARY_MODES,
    "lacpRate": ("802.3ad",),
    "adSelect": ("802.3ad",),
    "tlbDynamicLb": plugin_config.TLB_MODES,
    **{
        key: recent_options.LACP_MODES
        for key in (
            "lacpActive",
            "coupledControl",
            "adActorSysPrio",
            "adActorSystem",
            "adUserPortKey",
            "broadcastNeighbor",
        )
    },  # fmt: skip
}
IGNORED_OFF_MODE = {"xmitHashPolicy": ("balance-xor", "802.3ad", "balance-tlb")}  # accepted, no effect


def _off_mode(options: dict, effect: str) -> Callable:
    def check(bond: Bond, inputs: Inputs) -> Iterator:
        mode = lookup(bond, "mode")
        for key, modes in options.items():
            if (
                isinstance(mode, str)
                and mode in plugin_config.MODES
                and lookup(bond, key) is not None
                and mode not in modes
            ):
                yield (
                    key,
                    f"{key} has no effect in mode {mode}; {effect}",
                    (f"remove {key}, or use a mode that uses it: {', '.join(modes)}"),
                )

    return per_bond(check)


rule("mode-refuses-option", "error")(_off_mode(REFUSED_OFF_MODE, "this plugin refuses it (ADD fails)"))
rule("mode-ignores-option", "warning")(_off_mode(IGNORED_OFF_MODE, "the kernel ignores it"))


@rule("delay-not-multiple", "error")
@per_bond
def _delays(bond: Bond, inputs: Inputs) -> Iterator:
    miimon = _int(lookup(bond, "miimon"))
    for key in ("updelay", "downdelay", "peerNotifyDelay"):
        value = _int(lookup(bond, key))
        if miimon and value % miimon:
            rounded = value - value % miimon
            yield (
                key,
                (
                    f"{key} {value} is not a multiple of miimon {miimon}: the kernel rounds it down to "
                    f"{rounded}, and this plugin refuses it (ADD fails)"
                ),
                f'"{key}": {rounded} or {rounded + miimon}',
            )


@rule("mtu-above-links", "error")
@per_bond
def _mtu(bond: Bond, inputs: Inputs) -> Iterator:
    mtu = _int(lookup(bond, "mtu"))
    if not mtu:
        return
    for link, nad in sorted(inputs.link_nads(bond).items()):
        known = [_int(p.get("mtu")) for p in (_plugins(nad) if nad else []) if _int(p.get("mtu"))]
        known += [pf.mtu for _, pf in inputs.pools.get(nad.resource, [])] if nad and nad.resource else []
        if known and mtu > min(known):
            yield (
                "mtu",
                (
                    f"mtu {mtu} is above link {link}'s MTU {min(known)} (NAD {nad.key}): ADD fails "
                    "(pitfall mtu-mismatch)"
                ),
                f'"mtu": {min(known)} or less, or raise the VFs\' MTU',
            )
            return


@rule("lacp-passive", "warning")
@per_bond
def _lacp_passive(bond: Bond, inputs: Inputs) -> Iterator:
    if lookup(bond, "mode") == "802.3ad" and lookup(bond, "lacpActive") in (False, "off", 0):
        yield (
            "lacpActive",
            (
                "lacpActive off: the bond sends no LACPDU until its partner does; a partner that is passive "
                "too, or silent, never negotiates and the bond carries nothing (pitfall lacp-passive-silent)"
            ),
            "keep lacpActive on (the default) unless every switch port is LACP active",
        )


@rule("prio-under-primary", "info")
@per_bond
def _prio_under_primary(bond: Bond, inputs: Inputs) -> Iterator:
    links = lookup(bond, "links")
    prios = (
        [item for item in links if isinstance(item, dict) and "prio" in item]
        if isinstance(links, list)
        else []
    )
    if prios and lookup(bond, "primary") is not None:
        yield (
            "primary",
            (
                "links[].prio with primary: the kernel keeps the primary active whenever it is up; prio only "
                "orders the other links (which takes over when the primary fails)"
            ),
            "drop primary to let the highest prio lead, or drop the prios",
        )


# Bond-wide fields younger than the kernels nodes commonly run (Debian 12 backports: 6.12).  Not
# links[].adActorPortPrio: Debian's 6.12.118 has the slave attribute already (its ad_select value it has not).
NEWER_KERNEL = {"broadcastNeighbor": recent_options.RELEASES["broadcast_neigh"][1]}


@rule("needs-newer-kernel", "warning")
@per_bond
def _newer_kernel(bond: Bond, inputs: Inputs) -> Iterator:
    found = [(key, release) for key, release in NEWER_KERNEL.items() if lookup(bond, key) is not None]
    if lookup(bond, "adSelect") == "actor_port_prio":
        found.append(("adSelect", recent_options.RELEASES["ad_select"][1]))
    for key, release in found:
        yield (
            key,
            f"{key} needs Linux {release} on the node: on an older kernel ADD fails (code 101)",
            f"run nodes on Linux {release} or later, or leave {key} out",
        )


# The fields this plugin honours that upstream bond-cni has no field for (its Go decoder drops them).
UPSTREAM_IGNORES = (
    "primary", "primaryReselect", "updelay", "downdelay", "peerNotifyDelay", "arpInterval", "arpIpTarget",
    "arpValidate", "arpAllTargets", "lacpRate", "adSelect", "minLinks", "numGratArp", "numUnsolNa",
    "requireDistinctPF", "arpMissedMax", "nsIp6Target", "lacpActive", "coupledControl", "adActorSysPrio",
    "adActorSystem", "adUserPortKey", "broadcastNeighbor",
)  # fmt: skip


@rule("upstream-ignores", "info")
@per_bond
def _portability(bond: Bond, inputs: Inputs) -> Iterator:
    for key in UPSTREAM_IGNORES:
        if lookup(bond, key) is not None:
            yield (
                key,
                f"{key} is honoured by this plugin but ignored by upstream bond-cni",
                (f"keep this plugin on every node, or do not rely on {key}"),
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


def run(inputs: Inputs) -> list:
    """Every rule's findings, sorted by file and line; a parser error another error already explains at
    the same line is dropped."""
    found = [
        Finding(file, line, r.severity, r.code, message, fix)
        for r in RULES
        for file, line, message, fix in r.check(inputs)
    ]
    explained = {(f.file, f.line) for f in found if f.severity == "error" and f.code != "parse-error"}
    found = [f for f in found if f.code != "parse-error" or (f.file, f.line) not in explained]
    return sorted(found, key=lambda f: (f.file, f.line, SEVERITIES.index(f.severity), f.code))
