"""The network configuration: one pure parse() from stdin bytes to frozen records.

Field names and semantics follow upstream k8snetworkplumbingwg/bond-cni (bond/bond.go bondingConfig),
including its quirks (``miimon`` as a string of digits, case-insensitive keys as Go's encoding/json binds
them), plus the bonding options upstream lacks.  Every message names the JSON path, what was expected
and what was given.
"""

from __future__ import annotations

from . import inet, result
from .errors import DECODE_FAILURE, INCOMPATIBLE_VERSION, INVALID_CONFIG, MISSING, CniError, config_error
from .jsonio import dumps, loads
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
AD_SELECT = {"stable": 0, "bandwidth": 1, "count": 2}

PRIMARY_MODES = ("active-backup", "balance-tlb", "balance-alb")
TLB_MODES = ("balance-tlb", "balance-alb")
NO_ARP_MODES = ("802.3ad", "balance-tlb", "balance-alb")
MAX_MS = 2**31 - 1
HEX = frozenset("0123456789abcdefABCDEF")
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
# Fields that choose files: node settings (settings.py), never a network config's (SECURITY.md).
NODE_ONLY_FIELDS = {"statedir": "stateDir", "logfile": "logFile"}


def is_pci_address(value: object) -> bool:
    """dddd:bb:dd.f (hex domain, bus, device; function 0-7), the whole string."""
    if (
        not isinstance(value, str)
        or len(value) != 12
        or value[4] != ":"
        or value[7] != ":"
        or value[10] != "."
    ):
        return False
    return all(c in HEX for c in value[:4] + value[5:7] + value[8:10]) and value[11] in "01234567"


def is_ifname(value: object) -> bool:
    """A Linux interface name as the kernel's dev_valid_name() takes it: 1-15 bytes, no '/', ':', space."""
    return (
        isinstance(value, str)
        and 0 < len(value.encode("utf-8", "replace")) <= 15
        and value not in (".", "..")
        and value.isprintable()
        and not any(c in "/:" or c.isspace() for c in value)
    )


def is_name(value: object) -> bool:
    """A network / container id: an alphanumeric, then alphanumerics, '_', '.', '-' (libcni's rule)."""
    return (
        isinstance(value, str)
        and value != ""
        and value[0].isascii()
        and value[0].isalnum()
        and all(c in NAME_CHARS for c in value)
    )


def is_plugin_name(value: object) -> bool:
    """A plugin type looked up in CNI_PATH: a bare file name (no separators, no dot files), printable."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= 255
        and value.isprintable()
        and not any(c in "/\\\0" for c in value)
        and not value.startswith(".")
    )


class Link(Record):
    """One slave: by interface name, or by PCI address (resolved through sysfs at ADD time)."""

    path: str  # where it came from, e.g. "links[1]" or "runtimeConfig.deviceID"
    name: Optional[str] = None
    pci: Optional[str] = None
    handed: bool = False  # the PCI device is one the runtime handed to this pod (deviceID, runtimeConfig)

    def describe(self) -> str:
        return self.name if self.name is not None else f"PCI {self.pci}"


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
    arp_validate: Optional[int] = None
    arp_all_targets: Optional[int] = None
    primary_reselect: Optional[int] = None
    xmit_hash_policy: Optional[int] = None
    num_peer_notif: Optional[int] = None
    all_slaves_active: Optional[int] = None
    min_links: Optional[int] = None
    ad_lacp_rate: Optional[int] = None
    ad_select: Optional[int] = None
    tlb_dynamic_lb: Optional[int] = None

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


# ----------------------------------------------------------------------------------------------------------
# helpers


_FOLDED: dict = {}  # id(obj) -> (obj, {lower-case key: value}): each config object is folded once


def json_field(obj: Mapping[str, Any], key: str) -> Any:
    """Look a key up as Go's encoding/json binds it: exact name first, then case-insensitively."""
    if key in obj:
        return obj[key]
    held = _FOLDED.get(id(obj))
    if held is None or held[0] is not obj:
        held = _FOLDED[id(obj)] = (obj, {k.lower(): v for k, v in reversed(list(obj.items()))})
    return held[1].get(key.lower(), MISSING)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _opt_int(obj: Mapping[str, Any], key: str, lo: int, hi: int, path: str = "") -> Optional[int]:
    value = json_field(obj, key)
    if value is MISSING or value is None:
        return None
    if not _is_int(value) or not lo <= value <= hi:
        raise config_error(path + key, f"an integer from {lo} to {hi}", value)
    return value


def _opt_bool(obj: Mapping[str, Any], key: str) -> bool:
    value = json_field(obj, key)
    if value is MISSING or value is None:
        return False
    if not isinstance(value, bool):
        raise config_error(key, "true or false", value)
    return value


def _opt_str(obj: Mapping[str, Any], key: str, path: str = "") -> Optional[str]:
    value = json_field(obj, key)
    if value is MISSING or value is None:
        return None
    if not isinstance(value, str):
        raise config_error(path + key, "a string", value)
    return value


def _opt_choice(
    obj: Mapping[str, Any], key: str, table: Mapping[str, int], numeric: bool = False
) -> Optional[int]:
    """A named kernel value ("fast"); with numeric=True also its number (upstream's int form)."""
    value = json_field(obj, key)
    if value is MISSING or value is None:
        return None
    if isinstance(value, str) and value in table:
        return table[value]
    if numeric and _is_int(value) and value in table.values():
        return value
    names = ", ".join(table)
    expected = f"one of {names}" + (f" or 0..{max(table.values())}" if numeric else "")
    raise config_error(key, expected, value)


def _ms(obj: Mapping[str, Any], key: str, allow_digit_string: bool = False) -> Optional[int]:
    """A millisecond count: an int, or (upstream's miimon form) a string of digits."""
    value = json_field(obj, key)
    if value is MISSING or value is None:
        return None
    if allow_digit_string and isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if _is_int(value) and 0 <= value <= MAX_MS:
        return value
    expected = f"an integer from 0 to {MAX_MS}"
    if allow_digit_string:
        expected += ' or a string of digits like "100"'
    raise config_error(key, expected, value)


def _mode_name(value: int) -> str:
    return next(k for k, v in MODES.items() if v == value)


# ----------------------------------------------------------------------------------------------------------
# parse


def decode(raw: bytes) -> dict:
    """stdin bytes -> JSON object, or CniError 6."""
    try:
        obj = loads(raw)
    except (ValueError, RecursionError) as exc:
        raise CniError(DECODE_FAILURE, "failed to decode the network configuration", str(exc)) from None
    if not isinstance(obj, dict):
        raise CniError(
            DECODE_FAILURE, f"network configuration: expected a JSON object, got {type(obj).__name__}"
        )
    return obj


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


def parse_obj(obj: Mapping[str, Any]) -> BondConf:
    version = check_version(obj)
    refuse_node_fields(obj)
    name = json_field(obj, "name")
    if name is MISSING or name == "" or name is None:
        raise CniError(INVALID_CONFIG, "missing network name", "name: expected a non-empty string")
    if not is_name(name):
        raise config_error("name", "a network name (alphanumeric, then alphanumerics, '_', '.', '-')", name)
    ptype = _opt_str(obj, "type") or ""

    ipam = _parse_ipam(obj)
    mode_value = json_field(obj, "mode")
    if not isinstance(mode_value, str) or mode_value not in MODES:
        raise config_error("mode", "one of " + ", ".join(MODES), mode_value)
    mode = mode_value
    fom = _opt_choice(obj, "failOverMac", FAIL_OVER_MAC, numeric=True)

    miimon = _ms(obj, "miimon", allow_digit_string=True)
    updelay = _ms(obj, "updelay")
    downdelay = _ms(obj, "downdelay")
    peer_delay = _ms(obj, "peerNotifyDelay")
    arp_interval = _ms(obj, "arpInterval")
    arp_targets = _parse_arp_targets(obj)
    arp_validate = _opt_choice(obj, "arpValidate", ARP_VALIDATE)
    arp_all = _opt_choice(obj, "arpAllTargets", ARP_ALL_TARGETS)
    all_active = _opt_int(obj, "allSlavesActive", 0, 1)
    tlb = _opt_int(obj, "tlbDynamicLb", 0, 1)
    xmit = _opt_choice(obj, "xmitHashPolicy", XMIT_HASH_POLICY)
    reselect = _opt_choice(obj, "primaryReselect", PRIMARY_RESELECT)
    lacp = _opt_choice(obj, "lacpRate", LACP_RATE, numeric=True)
    ad_select = _opt_choice(obj, "adSelect", AD_SELECT, numeric=True)
    min_links = _opt_int(obj, "minLinks", 0, MAX_MS)
    notif = _parse_peer_notif(obj)
    primary = _opt_str(obj, "primary")

    mtu = _opt_int(obj, "mtu", 0, 65535)
    if mtu is not None and mtu != 0 and mtu < 68:
        raise config_error("mtu", "0 (not set) or an integer from 68 to 65535", mtu)

    links_in_container = _opt_bool(obj, "linksInContainer")
    links = _parse_links(obj)

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
    if reselect is not None and primary is None:
        raise CniError(INVALID_CONFIG, "primaryReselect: needs primary to be set, got no primary")
    if arp_interval:
        if miimon:
            raise CniError(
                INVALID_CONFIG,
                f"arpInterval and miimon: expected only one link monitor, got arpInterval {arp_interval} "
                f"and miimon {miimon}",
            )
        if mode in NO_ARP_MODES:
            raise CniError(INVALID_CONFIG, f"arpInterval: not supported in mode {dumps(mode)}")
        if not arp_targets:
            raise config_error(
                "arpIpTarget", "1 to 16 IPv4 addresses when arpInterval is set", arp_targets or []
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
        require_distinct_pf=None if distinct in (MISSING, None) else _opt_bool(obj, "requireDistinctPF"),
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
    grat = _opt_int(obj, "numGratArp", 0, 255)
    unsol = _opt_int(obj, "numUnsolNa", 0, 255)
    if grat is not None and unsol is not None and grat != unsol:
        raise CniError(
            INVALID_CONFIG,
            f"numGratArp and numUnsolNa: the kernel has one counter for both, got {grat} and {unsol}",
        )
    return grat if grat is not None else unsol


def _pci(value: Any, path: str) -> str:
    if not is_pci_address(value):
        raise config_error(path, 'a PCI address like "0000:03:02.0"', value)
    return value.lower()


def _handed_devices(obj: Mapping[str, Any]) -> list:
    """The devices the runtime handed to this pod: Multus puts the device plugin's device in the top-level
    deviceID/pciBusID and in runtimeConfig.deviceID (path, PCI address) pairs."""
    out = []
    runtime = json_field(obj, "runtimeConfig")
    if isinstance(runtime, dict):
        dev = json_field(runtime, "deviceID")
        if dev not in (MISSING, None, ""):
            out.append(("runtimeConfig.deviceID", _pci(dev, "runtimeConfig.deviceID")))
    for key in ("deviceID", "pciBusID"):
        dev = json_field(obj, key)
        if dev not in (MISSING, None, ""):
            out.append((key, _pci(dev, key)))
    return out


def _parse_links(obj: Mapping[str, Any]) -> Tuple[Link, ...]:
    value = json_field(obj, "links")
    if value is MISSING or value is None:
        value = []
    if not isinstance(value, list):
        raise config_error("links", 'a list of objects like {"name": "net1"}', value)
    handed = _handed_devices(obj)
    handed_pci = {pci for _, pci in handed}
    links = []
    for i, item in enumerate(value):
        path = f"links[{i}]"
        if not isinstance(item, dict):
            raise config_error(
                path, 'an object like {"name": "net1"} or {"pciAddress": "0000:03:02.0"}', item
            )
        name = json_field(item, "name")
        pci = json_field(item, "pciAddress")
        if pci is MISSING:
            pci = json_field(item, "deviceID")
        if name is not MISSING:
            if not is_ifname(name):
                raise config_error(
                    path + ".name", "an interface name (1-15 chars, no '/', ':' or spaces)", name
                )
            links.append(Link(path=path, name=name))
        elif pci is not MISSING:
            pci = _pci(pci, path + ".pciAddress")
            links.append(Link(path=path, pci=pci, handed=pci in handed_pci))
        else:
            raise config_error(path, 'an object with "name" or "pciAddress"', item)
    for path, pci in handed:
        if all(lk.pci != pci for lk in links):
            links.append(Link(path=path, pci=pci, handed=True))
    if len(links) < 2:
        raise config_error("links", "at least 2 links to bond", [lk.describe() for lk in links])
    names = [lk.name for lk in links if lk.name is not None]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise config_error("links", "distinct link names", dup)
    return tuple(links)


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


class DelConf(Record):
    """What DEL needs, read leniently: DEL must work even when the config no longer validates."""

    cni_version: str
    ipam_type: str
    links_in_container: bool
    problem: Optional[CniError]  # why the full parse failed, if it did


def parse_for_del(raw: bytes) -> DelConf:
    try:
        obj = decode(raw)
    except CniError as exc:
        return DelConf("", "", False, exc)
    problem = None
    try:
        parse_obj(obj)
    except CniError as exc:
        problem = exc
    version = json_field(obj, "cniVersion")
    ipam = json_field(obj, "ipam")
    ipam_type = ""
    if isinstance(ipam, dict) and is_plugin_name(ipam.get("type")) and ipam["type"] != "bond":
        ipam_type = ipam["type"]  # never a path from the config, even on DEL
    return DelConf(
        cni_version=version if isinstance(version, str) and version in SUPPORTED_VERSIONS else "",
        ipam_type=ipam_type,
        links_in_container=json_field(obj, "linksInContainer") is True,
        problem=problem,
    )


def mode_name(value: int) -> str:
    return _mode_name(value)
