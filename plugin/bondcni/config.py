"""The network configuration: one pure parse() from stdin bytes to frozen records.

Field names and semantics follow upstream k8snetworkplumbingwg/bond-cni (bond/bond.go bondingConfig),
including its quirks (``miimon`` as a string of digits, case-insensitive keys as Go's encoding/json binds
them), plus the bonding options upstream lacks.  Every message names the JSON path, what was expected
and what was given.
"""

from __future__ import annotations

from . import inet, recent_options, result
from .errors import INCOMPATIBLE_VERSION, INVALID_CONFIG, MISSING, CniError, config_error
from .fields import (
    MAX_MS,
    decode,
    is_name,
    is_plugin_name,
    json_field,
    ms,
    opt_bool,
    opt_choice,
    opt_int,
    opt_str,
)
from .jsonio import dumps
from .links import Link, parse_links
from .record import Record
from .spec import SUPPORTED_VERSIONS  # noqa: F401 (re-exported)

MappingProxyType = type(type.__dict__)  # types.MappingProxyType, without importing types on every exec

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs ~30 modules per exec
    from typing import Any, Mapping, Optional, Tuple

# Kernel value tables (include/uapi/linux/if_bonding.h, bond_options.c).
MODES = {
    "balance-rr": 0,
    "active-backup": 1,
    "balance-xor": 2,
    "broadcast": 3,
    "802.3ad": 4,
    "balance-tlb": 5,
    "balance-alb": 6,
}
FAIL_OVER_MAC = {"none": 0, "active": 1, "follow": 2}
XMIT_HASH_POLICY = {"layer2": 0, "layer3+4": 1, "layer2+3": 2, "encap2+3": 3, "encap3+4": 4, "vlan+srcmac": 5}
PRIMARY_RESELECT = {"always": 0, "better": 1, "failure": 2}
ARP_VALIDATE = {
    "none": 0,
    "active": 1,
    "backup": 2,
    "all": 3,
    "filter": 4,
    "filter_active": 5,
    "filter_backup": 6,
}
ARP_ALL_TARGETS = {"any": 0, "all": 1}
LACP_RATE = {"slow": 0, "fast": 1}
AD_SELECT = {"stable": 0, "bandwidth": 1, "count": 2, "actor_port_prio": 3}  # 3: Linux 6.18

PRIMARY_MODES = ("active-backup", "balance-tlb", "balance-alb")
TLB_MODES = ("balance-tlb", "balance-alb")
NO_ARP_MODES = ("802.3ad", "balance-tlb", "balance-alb")
# Fields that choose files: node settings (settings.py), never a network config's (SECURITY.md).
NODE_ONLY_FIELDS = {"statedir": "stateDir", "logfile": "logFile"}


class BondOptions(Record):
    """Bond options in kernel terms (values as the kernel reads them back), None = not configured."""

    mode: int
    fail_over_mac: int
    miimon: Optional[int] = None
    updelay: Optional[int] = None
    downdelay: Optional[int] = None
    peer_notif_delay: Optional[int] = None
    arp_interval: Optional[int] = None
    arp_ip_target: Optional[Tuple[str, ...]] = None
    ns_ip6_target: Optional[Tuple[str, ...]] = None
    arp_validate: Optional[int] = None
    arp_all_targets: Optional[int] = None
    primary_reselect: Optional[int] = None
    xmit_hash_policy: Optional[int] = None
    num_peer_notif: Optional[int] = None
    all_slaves_active: Optional[int] = None
    min_links: Optional[int] = None
    ad_lacp_active: Optional[int] = None
    ad_lacp_rate: Optional[int] = None
    ad_select: Optional[int] = None
    ad_actor_sys_prio: Optional[int] = None
    ad_user_port_key: Optional[int] = None
    ad_actor_system: Optional[str] = None
    tlb_dynamic_lb: Optional[int] = None
    missed_max: Optional[int] = None
    coupled_control: Optional[int] = None
    broadcast_neigh: Optional[int] = None

    def configured(self) -> dict:
        """The options to send, in the order the kernel applies them (bond_changelink)."""
        return {name: value for name, value in self._values.items() if value is not None}


class BondConf(Record):
    cni_version: str
    name: str
    type: str
    mode: str
    options: BondOptions
    links: Tuple[Link, ...]
    links_in_container: bool = False
    mtu: Optional[int] = None
    primary: Optional[str] = None
    require_distinct_pf: Optional[bool] = None  # None: the node's default (settings.py)
    fail_over_mac_explicit: bool = False  # upstream always sends 0; the kernel may force active later
    ipam: Mapping[str, Any] = MappingProxyType({})
    dns: Mapping[str, Any] = MappingProxyType({})
    prev_result: Optional[Mapping[str, Any]] = None  # normalized (result.normalize): the 1.x shape
    valid_attachments: Optional[Tuple[Tuple[str, str], ...]] = None

    @property
    def ipam_type(self) -> str:
        return str(self.ipam.get("type", "")) if self.ipam else ""


def _mode_name(value: int) -> str:
    return next(k for k, v in MODES.items() if v == value)


# ----------------------------------------------------------------------------------------------------------
# parse


def check_version(obj: Mapping[str, Any]) -> str:
    version = json_field(obj, "cniVersion")
    if version is MISSING or version is None:
        version = ""
    if not isinstance(version, str):
        raise config_error("cniVersion", "a string", version)
    if version not in SUPPORTED_VERSIONS:
        raise CniError(
            INCOMPATIBLE_VERSION,
            "incompatible CNI versions",
            f'config is "{version}", plugin supports {list(SUPPORTED_VERSIONS)}',
        )
    return version


def parse(raw: bytes) -> BondConf:
    """Turn stdin into a BondConf, or raise CniError (6 undecodable, 1 bad version, 7 invalid config)."""
    obj = decode(raw)
    return parse_obj(obj)


def refuse_node_fields(obj: Mapping[str, Any]) -> None:
    """stateDir/logFile choose files on the node: only the node's settings may (code 7, saying where)."""
    for key in obj:
        if isinstance(key, str) and key.lower() in NODE_ONLY_FIELDS:
            from .settings import DEFAULT_PATH

            raise CniError(
                INVALID_CONFIG,
                f"{NODE_ONLY_FIELDS[key.lower()]}: not a network config field; node settings such as the "
                f"state directory and log file are set by the node admin in {DEFAULT_PATH}",
            )


def parse_obj(obj: Mapping[str, Any], version: Optional[str] = None) -> BondConf:
    """version: check_version(obj), when the caller has checked it already (the dispatcher, skel.py)."""
    version = check_version(obj) if version is None else version
    refuse_node_fields(obj)
    name = json_field(obj, "name")
    if name is MISSING or name == "" or name is None:
        raise CniError(INVALID_CONFIG, "missing network name", "name: expected a non-empty string")
    if not is_name(name):
        raise config_error("name", "a network name (alphanumeric, then alphanumerics, '_', '.', '-')", name)
    ptype = opt_str(obj, "type") or ""

    ipam = _parse_ipam(obj)
    for key in ("runtimeConfig", "args"):  # the spec's objects, handed on to IPAM: an IPAM error is no answer
        _opt_object(obj, key)
    mode_value = json_field(obj, "mode")
    if not isinstance(mode_value, str) or mode_value not in MODES:
        raise config_error("mode", "one of " + ", ".join(MODES), mode_value)
    mode = mode_value
    fom = opt_choice(obj, "failOverMac", FAIL_OVER_MAC, numeric=True)

    miimon = ms(obj, "miimon", allow_digit_string=True)
    updelay = ms(obj, "updelay")
    downdelay = ms(obj, "downdelay")
    peer_delay = ms(obj, "peerNotifyDelay")
    arp_interval = ms(obj, "arpInterval")
    arp_targets = _parse_arp_targets(obj)
    arp_validate = opt_choice(obj, "arpValidate", ARP_VALIDATE)
    arp_all = opt_choice(obj, "arpAllTargets", ARP_ALL_TARGETS)
    all_active = opt_int(obj, "allSlavesActive", 0, 1)
    tlb = opt_int(obj, "tlbDynamicLb", 0, 1)
    xmit = opt_choice(obj, "xmitHashPolicy", XMIT_HASH_POLICY)
    reselect = opt_choice(obj, "primaryReselect", PRIMARY_RESELECT)
    lacp = opt_choice(obj, "lacpRate", LACP_RATE, numeric=True)
    ad_select = opt_choice(obj, "adSelect", AD_SELECT, numeric=True)
    min_links = opt_int(obj, "minLinks", 0, MAX_MS)
    notif = _parse_peer_notif(obj)
    primary = opt_str(obj, "primary")

    mtu = opt_int(obj, "mtu", 0, 65535)
    if mtu is not None and mtu != 0 and mtu < 68:
        raise config_error("mtu", "0 (not set) or an integer from 68 to 65535", mtu)

    links_in_container = opt_bool(obj, "linksInContainer")
    links = parse_links(obj)
    recent = recent_options.parse(obj, mode, arp_interval)
    recent_options.check_link_modes(links, mode)

    # Cross-field checks.
    if tlb is not None and mode not in TLB_MODES:
        raise CniError(
            INVALID_CONFIG,
            f"tlbDynamicLb: only supported in balance-tlb or balance-alb mode, got mode {dumps(mode)}",
        )
    if lacp is not None and mode != "802.3ad":
        raise CniError(INVALID_CONFIG, f'lacpRate: only supported in 802.3ad mode, got mode "{mode}"')
    if ad_select is not None and mode != "802.3ad":
        raise CniError(INVALID_CONFIG, f'adSelect: only supported in 802.3ad mode, got mode "{mode}"')
    if primary is not None:
        if mode not in PRIMARY_MODES:
            raise CniError(
                INVALID_CONFIG,
                f"primary: only supported in {', '.join(PRIMARY_MODES)} mode, got mode {dumps(mode)}",
            )
        names = [lk.name for lk in links]
        if None not in names and primary not in names:
            raise config_error("primary", "the name of one of the links " + dumps(names), primary)
    prios = [lk for lk in links if "prio" in dict(lk.slave_options)]
    if reselect is not None and primary is None and not prios:
        # without primary the kernel applies it to the usable link of highest prio (kernel 6.0)
        raise CniError(INVALID_CONFIG, "primaryReselect: needs primary or links[].prio, got neither")
    if arp_interval:
        if miimon:
            raise CniError(
                INVALID_CONFIG,
                f"arpInterval and miimon: expected only one link monitor, got arpInterval {arp_interval} "
                f"and miimon {miimon}",
            )
        if mode in NO_ARP_MODES:
            raise CniError(INVALID_CONFIG, f"arpInterval: not supported in mode {dumps(mode)}")
        if not arp_targets and not recent["ns_ip6_target"]:
            raise config_error(
                "arpIpTarget",
                "1 to 16 IPv4 addresses (or nsIp6Target IPv6 ones) when arpInterval is set",
                arp_targets or [],
            )
    for key, value in (
        ("arpValidate", arp_validate),
        ("arpAllTargets", arp_all),
        ("arpIpTarget", arp_targets),
    ):
        if value is not None and not arp_interval:
            raise CniError(INVALID_CONFIG, f"{key}: needs arpInterval > 0, got arpInterval {arp_interval}")
    for key, value in (("updelay", updelay), ("downdelay", downdelay), ("peerNotifyDelay", peer_delay)):
        if not value:
            continue
        if not miimon:
            raise CniError(INVALID_CONFIG, f"{key}: needs miimon > 0, got miimon {miimon}")
        if value % miimon:
            raise config_error(key, f"a multiple of miimon ({miimon})", value)

    options = BondOptions(
        mode=MODES[mode],
        fail_over_mac=fom if fom is not None else 0,
        miimon=miimon,
        updelay=updelay,
        downdelay=downdelay,
        peer_notif_delay=peer_delay,
        arp_interval=arp_interval,
        arp_ip_target=arp_targets,
        arp_validate=arp_validate,
        arp_all_targets=arp_all,
        primary_reselect=reselect,
        xmit_hash_policy=xmit,
        num_peer_notif=notif,
        all_slaves_active=all_active,
        min_links=min_links,
        ad_lacp_rate=lacp,
        ad_select=ad_select,
        tlb_dynamic_lb=tlb,
        **recent,
    )
    prev = json_field(obj, "prevResult")
    if prev is MISSING or prev is None:
        prev = None
    elif not isinstance(prev, dict):
        raise config_error("prevResult", "an object", prev)
    else:  # malformed: refused before anything is touched (code 7), not half-way through ADD
        prev = result.normalize(prev, "prevResult", INVALID_CONFIG)
    distinct = json_field(obj, "requireDistinctPF")
    return BondConf(
        cni_version=version,
        name=name,
        type=ptype,
        mode=mode,
        options=options,
        links=links,
        links_in_container=links_in_container,
        mtu=mtu or None,
        primary=primary,
        require_distinct_pf=None if distinct in (MISSING, None) else opt_bool(obj, "requireDistinctPF"),
        fail_over_mac_explicit=fom is not None,
        ipam=MappingProxyType(ipam),
        dns=MappingProxyType(_parse_dns(obj)),
        prev_result=MappingProxyType(prev) if prev is not None else None,
        valid_attachments=parse_attachments(obj),
    )


def _opt_object(obj: Mapping[str, Any], key: str) -> dict:
    value = json_field(obj, key)
    if value is MISSING or value is None:
        return {}
    if not isinstance(value, dict):
        raise config_error(key, "an object", value)
    return value


def _parse_ipam(obj: Mapping[str, Any]) -> dict:
    ipam = _opt_object(obj, "ipam")
    if not ipam:
        return {}
    ptype = ipam.get("type", MISSING)
    if not isinstance(ptype, str) or not ptype:
        raise config_error("ipam.type", "the name of an IPAM plugin in CNI_PATH", ptype)
    if not is_plugin_name(ptype):
        raise config_error(
            "ipam.type",
            "a plugin name without '/', '\\', NUL or a leading '.' (looked up in CNI_PATH)",
            ptype,
        )
    if ptype == "bond":
        raise CniError(INVALID_CONFIG, 'ipam.type: "bond" is not a suitable IPAM type')
    return dict(ipam)


def _parse_dns(obj: Mapping[str, Any]) -> dict:
    dns = _opt_object(obj, "dns")
    for key in ("nameservers", "search", "options"):
        value = dns.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(x, str) for x in value)):
            raise config_error(f"dns.{key}", "a list of strings", value)
    domain = dns.get("domain")
    if domain is not None and not isinstance(domain, str):
        raise config_error("dns.domain", "a string", domain)
    return dict(dns)


def _parse_arp_targets(obj: Mapping[str, Any]) -> Optional[Tuple[str, ...]]:
    value = json_field(obj, "arpIpTarget")
    if value is MISSING or value is None:
        return None
    if isinstance(value, str):  # the sysfs form: "192.0.2.1,192.0.2.2"
        value = [x.strip() for x in value.split(",") if x.strip()]
    if not isinstance(value, list) or not 1 <= len(value) <= 16:
        raise config_error("arpIpTarget", "a list of 1 to 16 IPv4 addresses", value)
    out = []
    for i, item in enumerate(value):
        try:
            if inet.ip_version(item) != 4:
                raise ValueError(item)
            out.append(inet.normal_ip(item))
        except ValueError:
            raise config_error(f"arpIpTarget[{i}]", "an IPv4 address", item) from None
    return tuple(out)


def _parse_peer_notif(obj: Mapping[str, Any]) -> Optional[int]:
    grat = opt_int(obj, "numGratArp", 0, 255)
    unsol = opt_int(obj, "numUnsolNa", 0, 255)
    if grat is not None and unsol is not None and grat != unsol:
        raise CniError(
            INVALID_CONFIG,
            f"numGratArp and numUnsolNa: the kernel has one counter for both, got {grat} and {unsol}",
        )
    return grat if grat is not None else unsol


def parse_attachments(obj: Mapping[str, Any]) -> Optional[Tuple[Tuple[str, str], ...]]:
    """GC's cni.dev/valid-attachments (or the older cni.dev/attachments) as (containerID, ifname) pairs."""
    for key in ("cni.dev/valid-attachments", "cni.dev/attachments"):
        value = obj.get(key, MISSING)
        if value is MISSING or value is None:
            continue
        if not isinstance(value, list):
            raise config_error(key, 'a list of {"containerID": ..., "ifname": ...}', value)
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict) or not isinstance(item.get("containerID"), str):
                raise config_error(f"{key}[{i}]", 'an object with "containerID" and "ifname"', item)
            out.append((item["containerID"], str(item.get("ifname", ""))))
        return tuple(out)
    return None


def mode_name(value: int) -> str:
    return _mode_name(value)
