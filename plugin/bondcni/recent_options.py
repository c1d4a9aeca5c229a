"""The bonding options the kernel added since 5.15: their config fields, checks and the release that has each.

Bond-wide ones (arpMissedMax, nsIp6Target, lacpActive, coupledControl, the 802.3ad system identity,
broadcastNeighbor) become BondOptions; per-link ones (links[].prio, links[].adActorPortPrio) are set on each
slave after it is enslaved.  A kernel older than an option ignores its attribute (netlink drops attributes
above its maximum) or refuses its value: ADD then fails with code 101 naming the option and the release that
has it (too_old), after the rollback, never with a bond lacking what was asked.
"""

from __future__ import annotations

from . import inet
from .errors import INVALID_CONFIG, KERNEL_REFUSED, MISSING, CniError, config_error
from .fields import HEX, is_int, json_field, opt_int

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs ~30 modules per exec
    from typing import Any, Mapping, Optional, Tuple

ON_OFF = {"off": 0, "on": 1}
MAX_NS_TARGETS = 16  # BOND_MAX_NS_TARGETS
LACP_MODES = ("802.3ad",)
PRIO_MODES = ("active-backup", "balance-tlb", "balance-alb")  # the kernel refuses a slave's prio elsewhere
ACTOR_PORT_PRIO = 3  # adSelect "actor_port_prio"
# (kernel name, config field) of the options the kernel takes in 802.3ad mode only (lint reads it too)
LACP_ONLY = (
    ("ad_lacp_active", "lacpActive"),
    ("coupled_control", "coupledControl"),
    ("ad_actor_sys_prio", "adActorSysPrio"),
    ("ad_user_port_key", "adUserPortKey"),
    ("ad_actor_system", "adActorSystem"),
    ("broadcast_neigh", "broadcastNeighbor"),
)

# kernel name -> (config field, the first release that has it)
RELEASES = {
    "ad_lacp_active": ("lacpActive", "5.15"),
    "missed_max": ("arpMissedMax", "5.17"),
    "ns_ip6_target": ("nsIp6Target", "5.17"),
    "prio": ("links[].prio", "6.0"),
    "coupled_control": ("coupledControl", "6.9"),
    "broadcast_neigh": ("broadcastNeighbor", "6.17"),
    "actor_port_prio": ("links[].adActorPortPrio", "6.18"),
    "ad_select": ('adSelect "actor_port_prio"', "6.18"),
}


def on_off(obj: Mapping[str, Any], key: str) -> Optional[int]:
    """true/false, the kernel's "on"/"off", or 1/0 -> 1/0."""
    value = json_field(obj, key)
    if value is MISSING or value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value in ON_OFF:
        return ON_OFF[value]
    if is_int(value) and value in (0, 1):
        return value
    raise config_error(key, 'true or false ("on"/"off", 1/0)', value)


def parse(obj: Mapping[str, Any], mode: str, arp_interval: Optional[int]) -> dict:
    """The bond-wide options of this module, by kernel name (None: not configured); code 7 naming the field
    for a bad value, a mode that does not use it, or an ARP-monitor option without arpInterval."""
    out = {
        "ad_lacp_active": on_off(obj, "lacpActive"),
        "missed_max": opt_int(obj, "arpMissedMax", 1, 255),
        "ns_ip6_target": parse_ns_targets(obj),
        "coupled_control": on_off(obj, "coupledControl"),
        "ad_actor_sys_prio": opt_int(obj, "adActorSysPrio", 1, 65535),
        "ad_user_port_key": opt_int(obj, "adUserPortKey", 0, 1023),
        "ad_actor_system": _actor_system(obj),
        "broadcast_neigh": on_off(obj, "broadcastNeighbor"),
    }
    for key, field in LACP_ONLY:
        if out[key] is not None and mode not in LACP_MODES:
            raise CniError(
                INVALID_CONFIG,
                f"{field}: only supported in 802.3ad mode (the kernel refuses it in others), "
                f'got mode "{mode}"',
            )
    for key, field in (("missed_max", "arpMissedMax"), ("ns_ip6_target", "nsIp6Target")):
        if out[key] is not None and not arp_interval:
            raise CniError(INVALID_CONFIG, f"{field}: needs arpInterval > 0, got arpInterval {arp_interval}")
    return out


def parse_ns_targets(obj: Mapping[str, Any]) -> Optional[Tuple[str, ...]]:
    """nsIp6Target: 1 to 16 distinct unicast IPv6 addresses (link-local too), a list or "a,b"."""
    value = json_field(obj, "nsIp6Target")
    if value is MISSING or value is None:
        return None
    if isinstance(value, str):  # the sysfs form
        value = [x.strip() for x in value.split(",") if x.strip()]
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_NS_TARGETS:
        raise config_error("nsIp6Target", f"a list of 1 to {MAX_NS_TARGETS} IPv6 addresses", value)
    out = []
    for i, item in enumerate(value):
        try:
            if inet.ip_version(item) != 6:
                raise ValueError(item)
            address = inet.normal_ip(item)
        except ValueError:
            raise config_error(f"nsIp6Target[{i}]", "an IPv6 address", item) from None
        if address in ("::", "::1") or address.startswith("ff"):  # bond_is_ip6_target_ok()
            raise config_error(f"nsIp6Target[{i}]", "a unicast IPv6 address (not ::, ::1 or multicast)", item)
        if address in out:
            raise config_error(f"nsIp6Target[{i}]", "an address not listed before", item)
        out.append(address)
    return tuple(out)


def _actor_system(obj: Mapping[str, Any]) -> Optional[str]:
    value = json_field(obj, "adActorSystem")
    if value is MISSING or value is None:
        return None
    parts = value.split(":") if isinstance(value, str) else []
    if len(parts) != 6 or not all(len(p) == 2 and all(c in HEX for c in p) for p in parts):
        raise config_error("adActorSystem", 'a MAC address like "02:00:00:00:00:01"', value)
    if int(parts[0], 16) & 1:  # the kernel refuses a multicast system id
        raise config_error("adActorSystem", "a unicast MAC address (first octet even)", value)
    return value.lower()


def parse_link(item: Mapping[str, Any], path: str) -> dict:
    """A links[] entry's slave options, by kernel name: prio (s32), adActorPortPrio (u16)."""
    out = {}
    prio = opt_int(item, "prio", -(2**31), 2**31 - 1, path + ".")
    if prio is not None:
        out["prio"] = prio
    port_prio = opt_int(item, "adActorPortPrio", 0, 65535, path + ".")
    if port_prio is not None:
        out["actor_port_prio"] = port_prio
    return out


def check_link_modes(links: tuple, mode: str) -> None:
    """links[].prio outside active-backup/tlb/alb, adActorPortPrio outside 802.3ad: the kernel refuses it."""
    for link in links:
        for key, field, modes in (
            ("prio", "prio", PRIO_MODES),
            ("actor_port_prio", "adActorPortPrio", LACP_MODES),
        ):
            if key in dict(link.slave_options) and mode not in modes:
                raise CniError(
                    INVALID_CONFIG,
                    f"{link.path}.{field}: only supported in {', '.join(modes)} mode (the kernel refuses it "
                    f'in others), got mode "{mode}"',
                )


def too_old(key: str, value: object = None) -> Optional[CniError]:
    """Code 101 for an option this node's kernel does not have, or None when the option is older than it.
    (ADD's read-back calls it when the kernel reports nothing for an option it was given.)"""
    if key not in RELEASES or (key == "ad_select" and value != ACTOR_PORT_PRIO):
        return None
    from . import os

    field, release = RELEASES[key]
    return CniError(
        KERNEL_REFUSED,
        f"{field}: this node's kernel ({os.uname().release}) does not have it; Linux {release} added it",
    )


def newest_missing(options: Mapping[str, Any], links: tuple) -> Optional[CniError]:
    """The code-101 error for the newest option in the config the running kernel is too old for, judged
    from its release: only used to explain a refusal the kernel gave (a backport may have it earlier)."""
    from . import os

    running = release_tuple(os.uname().release)
    asked = [(k, v) for k, v in options.items() if v is not None]
    asked += [item for link in links for item in link.slave_options]
    newer = [(k, v) for k, v in asked if too_old(k, v) and running < release_tuple(RELEASES[k][1])]
    if not newer:
        return None
    key, value = max(newer, key=lambda item: release_tuple(RELEASES[item[0]][1]))
    return too_old(key, value)


def release_tuple(release: str) -> tuple:
    """(6, 12, 118) from a release such as "6.12.118-amd64" or "6.1.0+deb13": its leading dotted numbers
    (the lab compares a scenario's `requires.kernel` with it too)."""
    out = []
    for part in release.split("."):
        digits = ""
        for char in part:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        out.append(int(digits))
        if len(digits) < len(part):  # "0-57-amd64": the numbers end here
            break
    return tuple(out)
