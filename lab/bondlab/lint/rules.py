"""The lint rules on one bond config at a time (registered in lint.registry): what the plugin refuses, and
the pitfalls of a config's own fields.

What they know comes from the plugin's parser (bondcni.config, the same code as ADD) and from the lab's
pitfall scenarios (scenarios/pitfalls/*.yaml) and the upstream bond-cni reference.
"""

from __future__ import annotations

from typing import Callable, Iterator

from bondcni import config as plugin_config
from bondcni import recent_options
from bondcni.errors import CniError
from bondlab.lint.inputs import Bond, Inputs
from bondlab.lint.registry import _int, lookup, parse, per_bond, rule
from bondlab.model import derive, k8s


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
    **{field: recent_options.LACP_MODES for _kernel, field in recent_options.LACP_ONLY},
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
