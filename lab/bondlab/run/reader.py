"""Kernel state over one netlink socket per netns (pyroute2), for the timeline's actions and polled checks."""

from __future__ import annotations

import os
import time

from bondlab.world.labstate import LabError
from bondlab.world.netns import Netns


class ResolveError(Exception):
    pass


class Reader:
    """Kernel state over one netlink socket per netns (pyroute2): polling spawns no process, which in the lab
    VM costs ~30 ms of CPU each time and would starve the probes."""

    MII = {0: "UP", 1: "FAIL", 2: "DOWN", 3: "BACK"}

    def __init__(self) -> None:
        self.sockets: dict = {}

    def _ipr(self, netns: str):
        if netns not in self.sockets:
            from pyroute2 import IPRoute

            for attempt in range(3):  # pyroute2 forks a helper to enter the netns; a loaded VM can lose it
                try:
                    self.sockets[netns] = IPRoute(netns=netns)
                    break
                except RuntimeError as error:
                    if attempt == 2:
                        raise LabError(f"netlink socket in netns {netns}: {error}") from None
        return self.sockets[netns]

    def link(self, netns: str, ifname: str) -> dict:
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            (msg,) = self._ipr(netns).link("get", ifname=ifname)
        except NetlinkError:
            return {}
        info = msg.get("IFLA_LINKINFO") or {}
        data = (info.get("IFLA_INFO_DATA") if info else None) or {}
        slave = (info.get("IFLA_INFO_SLAVE_DATA") if info else None) or {}
        active = data.get("IFLA_BOND_ACTIVE_SLAVE") if data else None
        return {
            "carrier": bool(msg["flags"] & (1 << 16)),
            "address": msg.get("IFLA_ADDRESS"),
            "active_slave": self.name(netns, active) if active else None,
            "mii_status": self.MII.get(slave.get("IFLA_BOND_SLAVE_MII_STATUS"), "?") if slave else "?",
            "backup": bool(slave.get("IFLA_BOND_SLAVE_STATE")) if slave else False,  # 1: backup (inactive)
        }

    def set_up(self, netns: str, names: list, up: bool) -> int:
        """Set links up/down in one netns, all in one netlink write (indexes resolved first): the kernel
        applies the changes back to back, as a dying switch or a pulled cable takes its ports at once, where
        one request per link made the last port go down tens of ms after the first in the lab VM (hundreds
        under TCG, whose pods then failed over in turn). Returns when the write was sent (ns): the cut's own
        timestamp. Sent, not acknowledged: the runner can lose the CPU between the kernel's change and
        reading the answer, while the bond already fails over and sends its gratuitous ARP, which must not
        look older than the cut."""
        from pyroute2.netlink.exceptions import NetlinkError

        from bondcni import rtnl

        ipr = self._ipr(netns)
        indexes = []
        for name in names:  # one RTM_GETLINK each: link_lookup() dumps and parses every link (~200 ms)
            try:
                indexes.append(ipr.link("get", ifname=name)[0]["index"])
            except NetlinkError:
                raise LabError(f"netns {netns}: no link {name!r}") from None
        sock = self._raw(netns)
        flags = rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK
        state = "up" if up else "down"
        batch = b"".join(
            rtnl.message(rtnl.RTM_NEWLINK, flags, seq, rtnl.link_change(index, state=state))
            for seq, index in enumerate(indexes, start=1)
        )
        sent = time.time_ns()
        sock.send(batch)
        pending, refused = set(range(1, len(indexes) + 1)), []
        while pending:
            for kind, mflags, seq, body in rtnl.messages(sock.recv(65536)):
                if kind == rtnl.NLMSG_ERROR and seq in pending:
                    pending.discard(seq)
                    code, said = rtnl.error(body, mflags)
                    if code:
                        refused.append(f"{names[seq - 1]}: {os.strerror(code)} {said}".rstrip())
        if refused:
            raise LabError(f"netns {netns}: setting links {state} failed: {'; '.join(refused)}")
        return sent

    def _raw(self, netns: str):
        """A plain rtnetlink socket in `netns` of our own (pyroute2's would mistake our answers for its)."""
        key = ("raw", netns)
        if key not in self.sockets:
            from socket import AF_NETLINK, NETLINK_ROUTE, SOCK_CLOEXEC, SOCK_RAW, socket

            from bondcni import netlink

            fd = netlink.open_netns(f"/run/netns/{netns}")
            try:
                with netlink.entered(fd):
                    self.sockets[key] = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)
            finally:
                os.close(fd)
        return self.sockets[key]

    def path(self, netns: str, dst: str) -> dict:
        """How `netns` reaches `dst` now: the interface (ifname, its MAC `src_mac`), the source address the
        kernel picks (`src_ip`, None when it names none), the next hop and its MAC from the neighbour table
        (`dst_mac`, None until resolved); {} without a route."""
        from pyroute2.netlink.exceptions import NetlinkError

        ipr = self._ipr(netns)
        try:
            (route,) = ipr.route("get", dst=dst)
        except NetlinkError:
            return {}
        oif, hop = route.get("RTA_OIF"), route.get("RTA_GATEWAY") or dst
        link = ipr.link("get", index=oif)[0]
        macs = [n.get("NDA_LLADDR") for n in ipr.neigh("dump", ifindex=oif) if n.get("NDA_DST") == hop]
        return {
            "ifname": link.get("IFLA_IFNAME"),
            "src_mac": link.get("IFLA_ADDRESS"),
            "src_ip": route.get("RTA_PREFSRC"),
            "next_hop": hop,
            "dst_mac": next((mac for mac in macs if mac), None),
        }

    def resolve(self, netns: str, dst: str, timeout: float = 5.0, ping: bool = True) -> dict:
        """path() to `dst` once its next hop's MAC is known (what a flow's sessions are addressed from,
        traffic.sessions.plan); `ping`: ask for it (one ping per try, the kernel's own ARP/ND) rather than
        wait for traffic to resolve it."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.path(netns, dst)
            if got.get("dst_mac"):
                return got
            if time.monotonic() >= deadline:
                said = got or "no route"
                raise ResolveError(f"netns {netns}: no neighbour for {dst} within {timeout:g} s ({said})")
            if ping:
                Netns(netns).exec("ping", "-c", "1", "-W", "1", dst, check=False, timeout=5)
            else:
                time.sleep(0.05)  # pacing the poll; the deadline is the wait

    def tentative(self, netns: str, ifname: str) -> list:
        """The IPv6 addresses of a link still in duplicate address detection (IFA_F_TENTATIVE): the kernel
        neither sends from them nor takes packets to them yet."""
        ipr = self._ipr(netns)
        index = ipr.link("get", ifname=ifname)[0]["index"]
        return [
            a.get("IFA_ADDRESS")
            for a in ipr.get_addr(family=10, index=index)  # AF_INET6
            if (a.get("IFA_FLAGS") or a["flags"]) & 0x40
        ]

    def name(self, netns: str, index: int):
        got = self._ipr(netns).link("get", index=index)
        return got[0].get("IFLA_IFNAME") if got else None

    def close(self) -> None:
        for ipr in self.sockets.values():
            ipr.close()
        self.sockets.clear()


READER = Reader()
