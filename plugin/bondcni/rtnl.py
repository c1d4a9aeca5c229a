"""The rtnetlink wire format the plugin speaks: building requests and decoding answers, no socket.

Only the messages and attributes the plugin uses (include/uapi/linux/{netlink,rtnetlink,if_link,if_addr}.h),
plus every IFLA_BOND_* attribute up to IFLA_BOND_BROADCAST_NEIGH and the IFLA_BOND_SLAVE_* ones.  Imports
_socket (not socket, whose enum import is start-up time) and struct only: this runs on every exec of the
plugin.
"""

from __future__ import annotations

import _struct as struct  # struct.py is `from _struct import *`: one file lookup less per exec
from _socket import AF_INET, AF_INET6, inet_ntop, inet_pton

# netlink.h
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP = 0x300
NLM_F_CAPPED = 0x100  # on an NLMSG_ERROR: the request is echoed without its payload
NLM_F_ACK_TLVS = 0x200  # on an NLMSG_ERROR: extended-ack attributes follow
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLMSGERR_ATTR_MSG = 1
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF

# rtnetlink.h
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
RT_TABLE_MAIN = 254
RTPROT_STATIC = 4
RTN_UNICAST = 1
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_MULTIPATH, RTA_TABLE = 1, 4, 5, 9, 15

# if_link.h
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER = 1, 3, 4, 10
IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD, IFLA_EXT_MASK = 18, 20, 28, 29
IFLA_LINK_NETNSID, IFLA_PERM_ADDRESS = 37, 54
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
RTEXT_FILTER_SKIP_STATS = 1 << 3  # link answers without the 64-bit counters: less to copy and decode
IFF_UP = 0x1

# if_addr.h
IFA_ADDRESS, IFA_LOCAL = 1, 2

_NLMSG = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_NLA = struct.Struct("=HH")  # nlattr: len, type
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefixlen, flags, scope, index
# rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
_RTMSG = struct.Struct("=BBBBBBBBI")
_RTNH = struct.Struct("=HBBi")  # rtnexthop: len, flags, hops, ifindex
_U8, _U16, _U32, _S32 = struct.Struct("=B"), struct.Struct("=H"), struct.Struct("=I"), struct.Struct("=i")
HEADER_LEN = _NLMSG.size

# IFLA_BOND_*: short name (as bond_options() reports it) -> (attribute type, wire form).
BOND_ATTRS = {
    "mode": (1, "u8"),
    "active_slave": (2, "u32"),
    "miimon": (3, "u32"),
    "updelay": (4, "u32"),
    "downdelay": (5, "u32"),
    "use_carrier": (6, "u8"),
    "arp_interval": (7, "u32"),
    "arp_ip_target": (8, "ip4s"),
    "arp_validate": (9, "u32"),
    "arp_all_targets": (10, "u32"),
    "primary": (11, "u32"),
    "primary_reselect": (12, "u8"),
    "fail_over_mac": (13, "u8"),
    "xmit_hash_policy": (14, "u8"),
    "resend_igmp": (15, "u32"),
    "num_peer_notif": (16, "u8"),
    "all_slaves_active": (17, "u8"),
    "min_links": (18, "u32"),
    "lp_interval": (19, "u32"),
    "packets_per_slave": (20, "u32"),
    "ad_lacp_rate": (21, "u8"),
    "ad_select": (22, "u8"),
    "ad_info": (23, "ad_info"),  # read-only
    "ad_actor_sys_prio": (24, "u16"),
    "ad_user_port_key": (25, "u16"),
    "ad_actor_system": (26, "mac"),
    "tlb_dynamic_lb": (27, "u8"),
    "peer_notif_delay": (28, "u32"),
    "ad_lacp_active": (29, "u8"),
    "missed_max": (30, "u8"),
    "ns_ip6_target": (31, "ip6s"),
    "coupled_control": (32, "u8"),
    "broadcast_neigh": (33, "u8"),  # Linux 6.17
}
BOND_NAMES = {number: (name, form) for name, (number, form) in BOND_ATTRS.items()}
# IFLA_BOND_AD_INFO_*: the active aggregator (802.3ad only).
AD_INFO = {
    1: ("aggregator", "u16"),
    2: ("num_ports", "u16"),
    3: ("actor_key", "u16"),
    4: ("partner_key", "u16"),
    5: ("partner_mac", "mac"),
}
# IFLA_BOND_SLAVE_*: the two a slave is given (the others it reports, state to churn, are not read).
BOND_SLAVE_ATTRS = {"prio": (9, "s32"), "actor_port_prio": (10, "u16")}  # Linux 6.0, 6.18
BOND_SLAVE_NAMES = {number: (name, form) for name, (number, form) in BOND_SLAVE_ATTRS.items()}
_INT_FORMS = {"u8": _U8, "u16": _U16, "u32": _U32, "s32": _S32}


class LinkInfo:
    """One link as RTM_NEWLINK describes it (frozen)."""

    __slots__ = ("index", "name", "mac", "mtu", "up", "master", "kind", "perm_mac", "alias", "link_netnsid")

    def __init__(self, index, name, mac, mtu, up, master, kind, perm_mac="", alias="", link_netnsid=None):
        values = (index, name, mac, mtu, up, master, kind, perm_mac, alias, link_netnsid)
        for slot, value in zip(self.__slots__, values):
            object.__setattr__(self, slot, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"LinkInfo is frozen: cannot set {name}")

    def _fields(self) -> tuple:
        return tuple(getattr(self, slot) for slot in self.__slots__)

    def __eq__(self, other):
        return isinstance(other, LinkInfo) and self._fields() == other._fields()

    def __hash__(self):
        return hash(self._fields())

    def __repr__(self):
        return "LinkInfo(" + ", ".join(f"{s}={getattr(self, s)!r}" for s in self.__slots__) + ")"


# -- encoding ----------------------------------------------------------------------------------------------


def message(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    return _NLMSG.pack(HEADER_LEN + len(body), kind, flags, seq, 0) + body


def attr(kind: int, payload: bytes) -> bytes:
    """One attribute, padded to 4 bytes (the padding is not counted in its length)."""
    length = _NLA.size + len(payload)
    return _NLA.pack(length, kind) + payload + b"\0" * (-length % 4)


def nest(kind: int, *children: bytes) -> bytes:
    return attr(kind | NLA_F_NESTED, b"".join(children))


def u32(kind: int, value: int) -> bytes:
    return attr(kind, _U32.pack(value))


def asciiz(kind: int, text: str) -> bytes:
    return attr(kind, text.encode() + b"\0")


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", "").replace("-", ""))


def family_of(address: str) -> int:
    return AF_INET6 if ":" in address else AF_INET


def ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return _IFINFO.pack(0, 0, index, flags, change)


def link_query(index: int = 0, name: str = "") -> bytes:
    """The body of an RTM_GETLINK: one link by index or name, or (neither) a dump."""
    return (
        ifinfo(index)
        + (asciiz(IFLA_IFNAME, name) if name else b"")
        + u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
    )


def link_change(
    index: int = 0,
    *,
    ifname=None,
    address=None,
    mtu=None,
    state=None,
    net_ns_fd=None,
    master=None,
    alias=None,
    linkinfo: bytes = b"",
) -> bytes:
    """The body of an RTM_NEWLINK that changes (or, index 0, creates) a link."""
    flags = change = 0
    if state is not None:
        if state not in ("up", "down"):
            raise ValueError(f"state must be 'up' or 'down', got {state!r}")
        change = IFF_UP
        flags = IFF_UP if state == "up" else 0
    out = [ifinfo(index, flags, change)]
    if ifname is not None:
        out.append(asciiz(IFLA_IFNAME, ifname))
    if address is not None:
        out.append(attr(IFLA_ADDRESS, mac_bytes(address)))
    if mtu is not None:
        out.append(u32(IFLA_MTU, mtu))
    if master is not None:
        out.append(u32(IFLA_MASTER, master))
    if net_ns_fd is not None:
        out.append(u32(IFLA_NET_NS_FD, net_ns_fd))
    if alias is not None:
        out.append(attr(IFLA_IFALIAS, alias.encode()))  # empty: the kernel removes the alias
    out.append(linkinfo)
    return b"".join(out)


def bond_linkinfo(options: dict) -> bytes:
    """IFLA_LINKINFO {kind "bond", data {IFLA_BOND_*}} from short names and plain values."""
    return nest(
        IFLA_LINKINFO, asciiz(IFLA_INFO_KIND, "bond"), nest(IFLA_INFO_DATA, *map(bond_attr, options.items()))
    )


def bond_slave_linkinfo(options: dict) -> bytes:
    """IFLA_LINKINFO {slave kind "bond", slave data {IFLA_BOND_SLAVE_*}}: options set on an enslaved link."""
    data = (_option_attr(BOND_SLAVE_ATTRS, item) for item in options.items())
    return nest(IFLA_LINKINFO, asciiz(IFLA_INFO_SLAVE_KIND, "bond"), nest(IFLA_INFO_SLAVE_DATA, *data))


def bond_attr(item: tuple) -> bytes:
    return _option_attr(BOND_ATTRS, item)


def _option_attr(table: dict, item: tuple) -> bytes:
    name, value = item
    if name not in table:
        raise ValueError(f"unknown bond option {name!r}")
    number, form = table[name]
    if form in _INT_FORMS:
        return attr(number, _INT_FORMS[form].pack(value))
    if form == "mac":
        return attr(number, mac_bytes(value))
    if form in ("ip4s", "ip6s"):
        family = AF_INET if form == "ip4s" else AF_INET6
        values = [value] if isinstance(value, str) else value
        return nest(number, *(attr(i, inet_pton(family, str(v))) for i, v in enumerate(values)))
    raise ValueError(f"bond option {name} is read-only")


def address_add(index: int, cidr: str) -> bytes:
    """The body of an RTM_NEWADDR for "ADDR/PLEN" on a link (IFA_LOCAL too for IPv4, as iproute2 does)."""
    address, _, plen = cidr.partition("/")
    family = family_of(address)
    raw = inet_pton(family, address)
    prefix = int(plen) if plen else (32 if family == AF_INET else 128)
    local = attr(IFA_LOCAL, raw) if family == AF_INET else b""
    return _IFADDR.pack(family, prefix, 0, 0, index) + local + attr(IFA_ADDRESS, raw)


def route_add(index: int, dst: str, gw: str | None) -> bytes:
    """The body of an RTM_NEWROUTE: dst ("NET/PLEN") via gw (or on-link) out of a link, main table."""
    net, _, plen = dst.partition("/")
    family = family_of(net)
    prefix = int(plen) if plen else (32 if family == AF_INET else 128)
    out = [_RTMSG.pack(family, prefix, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, 0, RTN_UNICAST, 0)]
    if prefix:
        out.append(attr(RTA_DST, inet_pton(family, net)))
    if gw:
        out.append(attr(RTA_GATEWAY, inet_pton(family_of(gw), gw)))
    out.append(u32(RTA_OIF, index))
    return b"".join(out)


def dump_query(kind: int) -> bytes:
    """The body of an address or route dump of every family and table (the reply's RTA_TABLE says which)."""
    return _IFADDR.pack(0, 0, 0, 0, 0) if kind == RTM_GETADDR else _RTMSG.pack(0, 0, 0, 0, 0, 0, 0, 0, 0)


# -- decoding ----------------------------------------------------------------------------------------------


def messages(data: bytes):
    """(type, flags, seq, body) of each netlink message in one datagram."""
    pos = 0
    while pos + HEADER_LEN <= len(data):
        length, kind, flags, seq, _ = _NLMSG.unpack_from(data, pos)
        if length < HEADER_LEN or pos + length > len(data):
            raise ValueError(f"malformed netlink message at byte {pos} (length {length} of {len(data)})")
        yield kind, flags, seq, data[pos + HEADER_LEN : pos + length]
        pos += (length + 3) & ~3


def attr_list(data: bytes, pos: int = 0) -> list:
    """(type, payload) of each attribute from pos on; the nested flag is masked off the type."""
    out = []
    end, unpack = len(data) - 4, _NLA.unpack_from  # hot: every attribute of every message (4: _NLA.size)
    while pos <= end:
        length, kind = unpack(data, pos)
        if length < 4:
            break
        out.append((kind & NLA_TYPE_MASK, data[pos + 4 : pos + length]))
        pos += (length + 3) & ~3
    return out


def attrs(data: bytes, pos: int = 0) -> dict:
    return dict(attr_list(data, pos))


def error(body: bytes, flags: int) -> tuple:
    """(errno, the kernel's extended-ack text or "") of an NLMSG_ERROR; errno 0 is an ACK."""
    (code,) = _S32.unpack_from(body, 0)
    text = ""
    if flags & NLM_F_ACK_TLVS:
        echoed = HEADER_LEN if flags & NLM_F_CAPPED else _U32.unpack_from(body, 4)[0]
        msg = attrs(body, 4 + ((echoed + 3) & ~3)).get(NLMSGERR_ATTR_MSG, b"")
        text = _string(msg)
    return -code, text


def _string(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _uint(raw: bytes | None, default=0):
    if raw is None:
        return default
    return {1: _U8, 2: _U16, 4: _U32}[len(raw)].unpack(raw)[0]


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _ip(family: int, raw: bytes | None) -> str | None:
    return inet_ntop(family, raw) if raw else None


def link(body: bytes) -> LinkInfo:
    _, _, index, flags, _ = _IFINFO.unpack_from(body, 0)
    found = attrs(body, _IFINFO.size)
    info = attrs(found.get(IFLA_LINKINFO, b""))
    netnsid = found.get(IFLA_LINK_NETNSID)
    return LinkInfo(
        index=index,
        name=_string(found.get(IFLA_IFNAME, b"")),
        mac=mac_text(found.get(IFLA_ADDRESS, b"")),
        mtu=_uint(found.get(IFLA_MTU)),
        up=bool(flags & IFF_UP),
        master=_uint(found.get(IFLA_MASTER)),
        kind=_string(info.get(IFLA_INFO_KIND, b"")),
        perm_mac=mac_text(found.get(IFLA_PERM_ADDRESS, b"")),
        alias=_string(found.get(IFLA_IFALIAS, b"")),
        link_netnsid=_S32.unpack(netnsid)[0] if netnsid else None,
    )


def bond_options(body: bytes) -> dict:
    """Every IFLA_BOND_* attribute of an RTM_NEWLINK, by short name: ints, address lists, a MAC, a dict."""
    return _options(body, IFLA_INFO_DATA, BOND_NAMES)


def bond_slave_options(body: bytes) -> dict:
    """Every IFLA_BOND_SLAVE_* attribute of an enslaved link's RTM_NEWLINK, by short name."""
    return _options(body, IFLA_INFO_SLAVE_DATA, BOND_SLAVE_NAMES)


def _options(body: bytes, kind: int, names: dict) -> dict:
    info = attrs(attrs(body, _IFINFO.size).get(IFLA_LINKINFO, b""))
    out = {}
    for number, raw in attr_list(info.get(kind, b"")):
        if number in names:
            name, form = names[number]
            out[name] = _bond_value(form, raw)
    return out


def _bond_value(form: str, raw: bytes):
    if form == "s32":
        return _S32.unpack(raw)[0]
    if form in _INT_FORMS:
        return _uint(raw)
    if form == "mac":
        return mac_text(raw)
    if form in ("ip4s", "ip6s"):
        family = AF_INET if form == "ip4s" else AF_INET6
        return [inet_ntop(family, value) for _, value in attr_list(raw)]
    return {AD_INFO[n][0]: _bond_value(AD_INFO[n][1], v) for n, v in attr_list(raw) if n in AD_INFO}


def address(body: bytes) -> dict:
    """An RTM_NEWADDR as {index, address "ADDR/PLEN", family, scope} (IFA_LOCAL: ours on a point-to-point)."""
    family, prefix, _, scope, index = _IFADDR.unpack_from(body, 0)
    found = attrs(body, _IFADDR.size)
    raw = found.get(IFA_LOCAL) or found.get(IFA_ADDRESS)
    return {"index": index, "address": f"{_ip(family, raw)}/{prefix}", "family": family, "scope": scope}


def route(body: bytes) -> dict:
    """An RTM_NEWROUTE as {dst "NET/PLEN", gw, oif, table, family, type (RTN_*), nexthops: [{oif, gw}]}."""
    family, dst_len, _, _, table, _, _, kind, _ = _RTMSG.unpack_from(body, 0)
    found = attrs(body, _RTMSG.size)
    default = "0.0.0.0" if family == AF_INET else "::"
    gw, oif = _ip(family, found.get(RTA_GATEWAY)), _uint(found.get(RTA_OIF))
    nexthops = [{"oif": oif, "gw": gw}] if oif else []
    hops = found.get(RTA_MULTIPATH, b"")
    pos = 0
    while pos + _RTNH.size <= len(hops):
        length, _, _, hop_oif = _RTNH.unpack_from(hops, pos)
        if length < _RTNH.size:
            break
        hop_gw = attrs(hops[pos + _RTNH.size : pos + length]).get(RTA_GATEWAY)
        nexthops.append({"oif": hop_oif, "gw": _ip(family, hop_gw)})
        pos += (length + 3) & ~3
    return {
        "dst": f"{_ip(family, found.get(RTA_DST)) or default}/{dst_len}",
        "gw": gw,
        "oif": oif,
        "table": _uint(found.get(RTA_TABLE), table),
        "family": family,
        "type": kind,
        "nexthops": nexthops,
    }
