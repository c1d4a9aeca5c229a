"""The network configuration: one pure parse() from stdin bytes to frozen dataclasses.

Field names and semantics follow upstream k8snetworkplumbingwg/bond-cni (bond/bond.go bondingConfig),
including its quirks (``miimon`` as a string of digits, case-insensitive keys as Go's encoding/json binds
them), plus the bonding options upstream lacks.  Every message names the JSON path, what was expected
and what was given.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Optional, Tuple

from .errors import DECODE_FAILURE, INCOMPATIBLE_VERSION, INVALID_CONFIG, MISSING, CniError, config_error
from .spec import SUPPORTED_VERSIONS  # noqa: F401 (re-exported)

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
PCI_RE = re.compile(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")
IFNAME_RE = re.compile(r"^[^/:\s]{1,15}$")
NETWORK_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")


@dataclass(frozen=True)
class Link:
    """One slave: by interface name, or by PCI address (resolved through sysfs at ADD time)."""

    path: str  # where it came from, e.g. "links[1]" or "runtimeConfig.deviceID"
    name: Optional[str] = None
    pci: Optional[str] = None

    def describe(self) -> str:
        return self.name if self.name is not None else f"PCI {self.pci}"


@dataclass(frozen=True)
class BondOptions:
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
        out = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True)
class BondConf:
    cni_version: str
    name: str
    type: str
    mode: str
    options: BondOptions
    links: Tuple[Link, ...]
    links_in_container: bool = False
    mtu: Optional[int] = None
    primary: Optional[str] = None
    require_distinct_pf: bool = False
    fail_over_mac_explicit: bool = False  # upstream always sends 0; the kernel may force active later
    ipam: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    dns: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    prev_result: Optional[Mapping[str, Any]] = None
    state_dir: Optional[str] = None
    log_file: Optional[str] = None
    valid_attachments: Optional[Tuple[Tuple[str, str], ...]] = None

    @property
    def ipam_type(self) -> str:
        return str(self.ipam.get("type", "")) if self.ipam else ""


# ----------------------------------------------------------------------------------------------------------
# helpers


def _get(obj: Mapping[str, Any], key: str) -> Any:
    """Look a key up as Go's encoding/json binds it: exact name first, then case-insensitively."""
    if key in obj:
        return obj[key]
    low = key.lower()
    for k, v in obj.items():
        if k.lower() == low:
            return v
    return MISSING


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _opt_int(obj: Mapping[str, Any], key: str, lo: int, hi: int, path: str = "") -> Optional[int]:
    value = _get(obj, key)
    if value is MISSING or value is None:
        return None
    if not _is_int(value) or not lo <= value <= hi:
        raise config_error(path + key, f"an integer from {lo} to {hi}", value)
    return value


def _opt_bool(obj: Mapping[str, Any], key: str) -> bool:
    value = _get(obj, key)
    if value is MISSING or value is None:
        return False
    if not isinstance(value, bool):
        raise config_error(key, "true or false", value)
    return value


def _opt_str(obj: Mapping[str, Any], key: str, path: str = "") -> Optional[str]:
    value = _get(obj, key)
    if value is MISSING or value is None:
        return None
    if not isinstance(value, str):
        raise config_error(path + key, "a string", value)
    return value


def _opt_choice(
    obj: Mapping[str, Any], key: str, table: Mapping[str, int], numeric: bool = False
) -> Optional[int]:
    """A named kernel value ("fast"); with numeric=True also its number (upstream's int form)."""
    value = _get(obj, key)
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
    value = _get(obj, key)
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
        text = raw.decode("utf-8")
        obj = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CniError(DECODE_FAILURE, "failed to decode the network configuration", str(exc)) from None
    if not isinstance(obj, dict):
        raise CniError(
            DECODE_FAILURE, f"network configuration: expected a JSON object, got {type(obj).__name__}"
        )
    return obj


def check_version(obj: Mapping[str, Any]) -> str:
    version = _get(obj, "cniVersion")
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


def parse_obj(obj: Mapping[str, Any]) -> BondConf:
    version = check_version(obj)
    name = _get(obj, "name")
    if name is MISSING or name == "" or name is None:
        raise CniError(INVALID_CONFIG, "missing network name", "name: expected a non-empty string")
    if not isinstance(name, str) or not NETWORK_NAME_RE.match(name):
        raise config_error("name", "a network name (alphanumeric, then alphanumerics, '_', '.', '-')", name)
    ptype = _opt_str(obj, "type") or ""

    ipam = _parse_ipam(obj)
    mode_value = _get(obj, "mode")
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
            f"tlbDynamicLb: only supported in balance-tlb or balance-alb mode, got mode {json.dumps(mode)}",
        )
    if lacp is not None and mode != "802.3ad":
        raise CniError(INVALID_CONFIG, f'lacpRate: only supported in 802.3ad mode, got mode "{mode}"')
    if ad_select is not None and mode != "802.3ad":
        raise CniError(INVALID_CONFIG, f'adSelect: only supported in 802.3ad mode, got mode "{mode}"')
    if primary is not None:
        if mode not in PRIMARY_MODES:
            raise CniError(
                INVALID_CONFIG,
                f"primary: only supported in {', '.join(PRIMARY_MODES)} mode, got mode {json.dumps(mode)}",
            )
        names = [lk.name for lk in links]
        if None not in names and primary not in names:
            raise config_error("primary", "the name of one of the links " + json.dumps(names), primary)
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
            raise CniError(INVALID_CONFIG, f"arpInterval: not supported in mode {json.dumps(mode)}")
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
    prev = _get(obj, "prevResult")
    if prev is MISSING or prev is None:
        prev = None
    elif not isinstance(prev, dict):
        raise config_error("prevResult", "an object", prev)
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
        require_distinct_pf=_opt_bool(obj, "requireDistinctPF"),
        fail_over_mac_explicit=fom is not None,
        ipam=MappingProxyType(ipam),
        dns=MappingProxyType(_parse_dns(obj)),
        prev_result=MappingProxyType(prev) if prev is not None else None,
        state_dir=_opt_str(obj, "stateDir"),
        log_file=_opt_str(obj, "logFile"),
        valid_attachments=parse_attachments(obj),
    )


def _opt_object(obj: Mapping[str, Any], key: str) -> dict:
    value = _get(obj, key)
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
    if "/" in ptype or "\\" in ptype or ".." in ptype or ptype.startswith("."):
        raise config_error(
            "ipam.type", "a plugin name without '/', '\\' or '..' (looked up in CNI_PATH)", ptype
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
    value = _get(obj, "arpIpTarget")
    if value is MISSING or value is None:
        return None
    if isinstance(value, str):  # the sysfs form: "192.0.2.1,192.0.2.2"
        value = [x.strip() for x in value.split(",") if x.strip()]
    if not isinstance(value, list) or not 1 <= len(value) <= 16:
        raise config_error("arpIpTarget", "a list of 1 to 16 IPv4 addresses", value)
    out = []
    for i, item in enumerate(value):
        try:
            out.append(str(ipaddress.IPv4Address(item)))
        except (ValueError, TypeError):
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
    if not isinstance(value, str) or not PCI_RE.match(value):
        raise config_error(path, 'a PCI address like "0000:03:02.0"', value)
    return value.lower()


def _parse_links(obj: Mapping[str, Any]) -> Tuple[Link, ...]:
    value = _get(obj, "links")
    if value is MISSING or value is None:
        value = []
    if not isinstance(value, list):
        raise config_error("links", 'a list of objects like {"name": "net1"}', value)
    links = []
    for i, item in enumerate(value):
        path = f"links[{i}]"
        if not isinstance(item, dict):
            raise config_error(
                path, 'an object like {"name": "net1"} or {"pciAddress": "0000:03:02.0"}', item
            )
        name = _get(item, "name")
        pci = _get(item, "pciAddress")
        if pci is MISSING:
            pci = _get(item, "deviceID")
        if name is not MISSING:
            if not isinstance(name, str) or not IFNAME_RE.match(name) or name in (".", ".."):
                raise config_error(
                    path + ".name", "an interface name (1-15 chars, no '/', ':' or spaces)", name
                )
            links.append(Link(path=path, name=name))
        elif pci is not MISSING:
            links.append(Link(path=path, pci=_pci(pci, path + ".pciAddress")))
        else:
            raise config_error(path, 'an object with "name" or "pciAddress"', item)
    # Multus passes the device-plugin's device as top-level deviceID/pciBusID and runtimeConfig.deviceID.
    extra = []
    runtime = _get(obj, "runtimeConfig")
    if isinstance(runtime, dict):
        dev = _get(runtime, "deviceID")
        if dev not in (MISSING, None, ""):
            extra.append(("runtimeConfig.deviceID", dev))
    for key in ("deviceID", "pciBusID"):
        dev = _get(obj, key)
        if dev not in (MISSING, None, ""):
            extra.append((key, dev))
    for path, dev in extra:
        pci = _pci(dev, path)
        if all(lk.pci != pci for lk in links):
            links.append(Link(path=path, pci=pci))
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


@dataclass(frozen=True)
class DelConf:
    """What DEL needs, read leniently: DEL must work even when the config no longer validates."""

    cni_version: str
    ipam_type: str
    links_in_container: bool
    link_names: Tuple[str, ...]
    state_dir: Optional[str]
    log_file: Optional[str]
    problem: Optional[CniError]  # why the full parse failed, if it did


def parse_for_del(raw: bytes) -> DelConf:
    try:
        obj = decode(raw)
    except CniError as exc:
        return DelConf("", "", False, (), None, None, exc)
    problem = None
    try:
        parse_obj(obj)
    except CniError as exc:
        problem = exc
    version = _get(obj, "cniVersion")
    ipam = _get(obj, "ipam")
    ipam_type = ""
    if isinstance(ipam, dict) and isinstance(ipam.get("type"), str):
        ipam_type = ipam["type"]
        try:
            _parse_ipam({"ipam": ipam})
        except CniError:
            ipam_type = ""  # never exec a path from the config, even on DEL
    links = _get(obj, "links")
    names = []
    if isinstance(links, list):
        names = [x["name"] for x in links if isinstance(x, dict) and isinstance(x.get("name"), str)]
    lic = _get(obj, "linksInContainer")
    sdir = _get(obj, "stateDir")
    lfile = _get(obj, "logFile")
    return DelConf(
        cni_version=version if isinstance(version, str) else "",
        ipam_type=ipam_type,
        links_in_container=lic is True,
        link_names=tuple(names),
        state_dir=sdir if isinstance(sdir, str) else None,
        log_file=lfile if isinstance(lfile, str) else None,
        problem=problem,
    )


def mode_name(value: int) -> str:
    return _mode_name(value)
