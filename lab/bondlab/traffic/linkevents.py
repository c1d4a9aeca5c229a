"""Link and neighbour events as rtnetlink tells them, decoded in the probe helper (traffic.helper) with the
stdlib only: its link_events rows are what the lab reads a bond's MII changes and failovers from
(traffic.failover), its neighbour entries what frames of their own follow the next hop's MAC with."""

from __future__ import annotations

import struct
import sys

from bondcni import rtnl  # the plugin's attribute decoder (stdlib only)

RTMGRP_LINK, RTMGRP_NEIGH = 1, 4
RTM_NEWLINK, RTM_NEWNEIGH = 16, 28
NDA_DST, NDA_LLADDR = 1, 2
NDMSG = struct.Struct("=BxxxiHBB")
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_EVENT = 1, 3, 10, 44
IFLA_EVENT_BONDING_FAILOVER = 3  # an IFLA_EVENT value
IFLA_INFO_SLAVE_DATA = 5  # in IFLA_LINKINFO, next to rtnl.IFLA_INFO_KIND/DATA
IFLA_BOND_SLAVE_STATE, IFLA_BOND_SLAVE_MII_STATUS = 1, 2  # in IFLA_INFO_SLAVE_DATA of a bond's slave
IFLA_BOND_ACTIVE_SLAVE = 2  # in IFLA_INFO_DATA of a bond
IFF_LOWER_UP = 1 << 16
NLMSG = struct.Struct("=IHHII")
IFINFO = struct.Struct("=BxHiII")


def link_events(data: bytes, now: int) -> list:
    """RTM_NEWLINK messages in one rtnetlink read -> [now, ifname, event, carrier, master index, ifindex,
    slave MII, slave role, active slave, MAC]: a bond slave's IFLA_BOND_SLAVE_MII_STATUS (0 up, 1 going
    down, 2 down, 3 going back) and IFLA_BOND_SLAVE_STATE (0 active, 1 backup), a bond's
    IFLA_BOND_ACTIVE_SLAVE (ifindex); None where the message has none (the kernel sends a slave's on each
    change of either); the link's address (hex) as it is now."""
    out = []
    for body in _messages(data, RTM_NEWLINK, IFINFO.size):
        _fam, _type, index, flags, _change = IFINFO.unpack_from(body)
        top = rtnl.attrs(body, IFINFO.size)
        info = rtnl.attrs(top.get(rtnl.IFLA_LINKINFO, b""))
        slave = rtnl.attrs(info.get(IFLA_INFO_SLAVE_DATA, b""))
        is_bond = _text(info.get(rtnl.IFLA_INFO_KIND)) == "bond"
        bond = rtnl.attrs(info.get(rtnl.IFLA_INFO_DATA, b"")) if is_bond else {}
        out.append(
            [
                now,
                _text(top.get(IFLA_IFNAME)),
                _number(top.get(IFLA_EVENT)) or 0,
                bool(flags & IFF_LOWER_UP),
                _number(top.get(IFLA_MASTER)) or 0,
                index,
                _number(slave.get(IFLA_BOND_SLAVE_MII_STATUS)),
                _number(slave.get(IFLA_BOND_SLAVE_STATE)),
                _number(bond.get(IFLA_BOND_ACTIVE_SLAVE)),
                top[IFLA_ADDRESS].hex() if IFLA_ADDRESS in top else None,
            ]
        )
    return out


def neighbours(data: bytes) -> list:
    """RTM_NEWNEIGH messages in one rtnetlink read -> [(address bytes, MAC bytes)] of those with a MAC."""
    got = [rtnl.attrs(body, NDMSG.size) for body in _messages(data, RTM_NEWNEIGH, NDMSG.size)]
    return [(a[NDA_DST], a[NDA_LLADDR]) for a in got if a.get(NDA_DST) and len(a.get(NDA_LLADDR) or b"") == 6]


def _messages(data: bytes, kind: int, header: int):
    """The bodies of the netlink messages of `kind` in one read that hold at least their `header`."""
    off = 0
    while off + NLMSG.size <= len(data):
        length, got, _flags, _seq, _pid = NLMSG.unpack_from(data, off)
        if length < NLMSG.size:
            return
        if got == kind and length >= NLMSG.size + header:
            yield data[off + NLMSG.size : off + length]
        off += (length + 3) & ~3


def _text(raw) -> str:
    return (raw or b"").split(b"\0", 1)[0].decode(errors="replace")


def _number(raw):
    """A u8/u16/u32 attribute's value, None when absent."""
    return int.from_bytes(raw, sys.byteorder) if raw else None
