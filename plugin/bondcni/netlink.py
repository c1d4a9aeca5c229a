"""The only module that talks netlink: an rtnetlink socket per netns, requests built and read by rtnl.py.

A Handle is an rtnetlink socket bound to one network namespace.  The socket for a pod netns is opened by
entering the netns with setns(2) for the moment the socket is created (a netlink socket stays bound to the
netns it was created in), so no helper process is forked: process start-up is the plugin's main cost, which
is also why this imports _socket rather than socket (whose enum import costs ~19 ms in the lab VM) and no
third-party module.
"""

from __future__ import annotations

import errno
from _socket import AF_INET, AF_INET6, SOCK_CLOEXEC, SOCK_RAW, socket

from . import errors, os, rtnl
from .errors import CniError
from .rtnl import LinkInfo

__all__ = ["AF_INET", "AF_INET6", "Handle", "LinkInfo", "entered", "open_netns"]

CLONE_NEWNET = 0x40000000
AF_NETLINK, NETLINK_ROUTE = 16, 0
SOL_NETLINK, NETLINK_CAP_ACK, NETLINK_EXT_ACK = 270, 10, 11
MSG_TRUNC = 0x20
TRANSIENT = (errno.EBUSY, errno.EAGAIN, errno.EINTR)
# A dump the kernel flags as interrupted (NLM_F_DUMP_INTR) is read again, as Go's netlinksafe does.
DUMP_ATTEMPTS = 10
RECV_BUFFER = 1 << 16  # > the 32 KiB the kernel puts in one dump datagram
# One receive buffer for every handle (each answer is copied out before the next request goes): 64 KiB
# zero-filled is 16 pages touched, 16 traps to the host in the lab VM, for each handle otherwise.
SHARED_BUFFER = bytearray(RECV_BUFFER)

_setns_impl = None


def setns_function():
    """setns(fd, CLONE_NEWNET) as a callable: os.setns on Python >= 3.12, libc's before.

    Before 3.12 libc is called through _ctypes alone: `import ctypes` costs ~5 ms more of every start.  That
    call does not keep errno, so a failure is asked again through ctypes, which does.
    """
    global _setns_impl
    if _setns_impl is None:
        if hasattr(os, "setns"):

            def _setns_impl(fd: int) -> None:
                os.setns(fd, CLONE_NEWNET)

        else:
            import _ctypes

            libc_setns = _ctypes.dlsym(_ctypes.dlopen(None, 2), "setns")  # RTLD_NOW, the program's own libc

            def _setns_impl(fd: int) -> None:
                if _ctypes.call_function(libc_setns, (fd, CLONE_NEWNET)) != 0:
                    _setns_with_errno(fd)

    return _setns_impl


def _setns_with_errno(fd: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class entered:  # lower-case: used like a function, `with entered(fd):`
    """Run the block with this thread in the netns of ns_fd (None: stay); always return to the original."""

    def __init__(self, ns_fd: int | None) -> None:
        self.ns_fd = ns_fd
        self.own: int | None = None

    def __enter__(self) -> None:
        if self.ns_fd is None:
            return
        self.own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns_function()(self.ns_fd)
        except BaseException:
            os.close(self.own)
            raise

    def __exit__(self, *exc: object) -> None:
        if self.own is not None:
            try:
                setns_function()(self.own)
            finally:
                os.close(self.own)
                self.own = None


def open_netns(path: str) -> int:
    """An fd for a netns path; CniError 8 (with the path) if it is not there or not a netns."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise CniError(errors.INVALID_NETNS, f'failed to open netns "{path}": {exc.strerror}') from None


class KernelError(OSError):
    """An NLMSG_ERROR: errno plus the kernel's extended-ack text, if it gave one."""

    def __init__(self, code: int, extack: str = "") -> None:
        super().__init__(code, os.strerror(code))
        self.extack = extack


def _kernel_error(what: str, exc: OSError) -> CniError:
    code = exc.errno
    text = os.strerror(code) if isinstance(code, int) and code > 0 else str(exc)
    extack = getattr(exc, "extack", "")
    if extack:
        text = f"{text} ({extack})"
    cni_code = errors.TRY_AGAIN_LATER if code in TRANSIENT else errors.KERNEL_REFUSED
    return CniError(cni_code, f"{what}: {text}")


def _open_socket() -> socket:
    sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)
    for option in (NETLINK_CAP_ACK, NETLINK_EXT_ACK):  # short errors with the kernel's reason (>= 4.12)
        try:
            sock.setsockopt(SOL_NETLINK, option, 1)
        except OSError:
            pass
    return sock


class Handle:
    """rtnetlink in one netns: the plugin's own (ns_fd None) or a pod's."""

    def __init__(self, ns_fd: int | None = None, label: str = "host") -> None:
        self.label = label
        self.ns_fd = ns_fd
        self.seq = 0
        self.buf = SHARED_BUFFER
        with entered(ns_fd):
            self.sock = _open_socket()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Handle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the exchange -------------------------------------------------------------------------------------

    def request(self, kind: int, flags: int, body: bytes) -> list:
        """Send one request; the bodies of its answers (none for an ACK).  Raises KernelError."""
        for _ in range(DUMP_ATTEMPTS):
            answers, interrupted = self._exchange(kind, flags, body)
            if not interrupted:
                return answers
        raise KernelError(errno.EINTR, "the dump was interrupted by changes every time")

    def _exchange(self, kind: int, flags: int, body: bytes) -> tuple:
        self.seq += 1
        seq = self.seq
        self.sock.send(rtnl.message(kind, flags | rtnl.NLM_F_REQUEST, seq, body))
        answers, interrupted, failure = [], False, None
        while True:
            size = self._recv()
            data = bytes(self.buf[:size])
            for mtype, mflags, mseq, mbody in rtnl.messages(data):
                if mseq != seq:
                    continue  # an answer to an earlier request
                interrupted = interrupted or bool(mflags & rtnl.NLM_F_DUMP_INTR)
                if mtype == rtnl.NLMSG_ERROR:
                    code, extack = rtnl.error(mbody, mflags)
                    failure = KernelError(code, extack) if code else None
                    break
                if mtype == rtnl.NLMSG_DONE:
                    code = -int.from_bytes(mbody[:4], "little", signed=True) if len(mbody) >= 4 else 0
                    failure = KernelError(code) if code > 0 else None
                    break
                answers.append(mbody)
                if not mflags & rtnl.NLM_F_MULTI:
                    break
            else:
                continue
            if failure is not None:
                raise failure
            return answers, interrupted

    def _recv(self) -> int:
        while True:
            try:
                size = self.sock.recv_into(self.buf, 0, MSG_TRUNC)
            except InterruptedError:
                continue
            if size > len(self.buf):
                raise KernelError(errno.EMSGSIZE, f"a netlink answer of {size} bytes")
            return size

    def _ask(self, what: str, kind: int, flags: int, body: bytes) -> list:
        try:
            return self.request(kind, flags, body)
        except OSError as exc:
            raise _kernel_error(f"{what} (in the {self.label} netns)", exc) from None

    def _change(self, what: str, kind: int, body: bytes, create: bool = False) -> None:
        flags = rtnl.NLM_F_ACK | (rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL if create else 0)
        self._ask(what, kind, flags, body)

    # -- reading ------------------------------------------------------------------------------------------

    def links(self) -> list[LinkInfo]:
        dump = self._ask("listing links", rtnl.RTM_GETLINK, rtnl.NLM_F_DUMP, rtnl.link_query())
        return [rtnl.link(body) for body in dump]

    def _link_message(self, name: str | None, index: int | None) -> bytes | None:
        query = rtnl.link_query(index=index or 0, name="" if index is not None else (name or ""))
        try:
            answers = self.request(rtnl.RTM_GETLINK, 0, query)
        except OSError as exc:
            if exc.errno in (errno.ENODEV, errno.ENOENT, errno.EINVAL):
                return None
            what = f"looking up link {name or index} in the {self.label} netns"
            raise _kernel_error(what, exc) from None
        return answers[0] if answers else None

    def get(self, name: str | None = None, index: int | None = None) -> LinkInfo | None:
        body = self._link_message(name, index)
        return rtnl.link(body) if body is not None else None

    def bond_options(self, index: int) -> dict:
        """Every IFLA_BOND_* attribute the kernel reports, by lower-case short name (e.g. "miimon")."""
        body = self._link_message(None, index)
        if body is None:
            raise CniError(errors.LINK_PROBLEM, f"link {index} is gone from the {self.label} netns")
        return rtnl.bond_options(body)

    def bond_slave_options(self, index: int) -> dict:
        """Every IFLA_BOND_SLAVE_* attribute an enslaved link reports (e.g. "prio"); {} when not enslaved."""
        body = self._link_message(None, index)
        if body is None:
            raise CniError(errors.LINK_PROBLEM, f"link {index} is gone from the {self.label} netns")
        return rtnl.bond_slave_options(body)

    def addresses_detail(self, index: int | None = None) -> list[dict]:
        """Every address ({index, address "ADDR/PLEN", family, scope}), or one link's."""
        dump = self._ask(
            "listing addresses", rtnl.RTM_GETADDR, rtnl.NLM_F_DUMP, rtnl.dump_query(rtnl.RTM_GETADDR)
        )
        found = [rtnl.address(body) for body in dump]
        return [a for a in found if index is None or a["index"] == index]

    def addresses(self, index: int) -> list[str]:
        return [a["address"] for a in self.addresses_detail(index)]

    def all_routes(self) -> list[dict]:
        """Every IPv4 and IPv6 route in every table: {dst "NET/PLEN", gw, oif, table, family, type, nexthops}.

        type is the kernel's RTN_* (1 unicast, 2 local, 3 broadcast, 5 multicast); oif is 0 for a multipath
        route, whose nexthops list each {oif, gw}.
        """
        dump = self._ask(
            "listing routes", rtnl.RTM_GETROUTE, rtnl.NLM_F_DUMP, rtnl.dump_query(rtnl.RTM_GETROUTE)
        )
        found = [rtnl.route(body) for body in dump]
        return [r for r in found if r["family"] in (AF_INET, AF_INET6)]

    def routes(self, index: int) -> list[dict]:
        """The main table's routes out of one link, as {dst, gw}."""
        return [
            {"dst": r["dst"], "gw": r["gw"]}
            for r in self.all_routes()
            if r["oif"] == index and r["table"] == rtnl.RT_TABLE_MAIN
        ]

    # -- changing -----------------------------------------------------------------------------------------

    def set(self, index: int, what: str, **attrs) -> None:
        """Change a link: ifname=, address=, mtu=, state="up"|"down", net_ns_fd=, master=, alias=."""
        self._change(what, rtnl.RTM_NEWLINK, rtnl.link_change(index, **attrs))

    def set_up(self, index: int, up: bool, name: str = "") -> None:
        self.set(index, f"setting {name or index} {'up' if up else 'down'}", state="up" if up else "down")

    def move(self, index: int, target_ns_fd: int, name: str = "") -> None:
        self.set(index, f"moving {name or index} to another netns", net_ns_fd=target_ns_fd)

    def rename(self, index: int, new_name: str) -> None:
        self.set(index, f"renaming link {index} to {new_name}", ifname=new_name)

    def set_alias(self, index: int, text: str) -> None:
        """Set IFLA_IFALIAS ("" removes it)."""
        self.set(index, f"setting the alias of link {index}", alias=text)

    def delete(self, index: int, name: str = "") -> None:
        self._change(f"deleting {name or index}", rtnl.RTM_DELLINK, rtnl.ifinfo(index))

    def create_bond(self, name: str, options: dict, mtu: int | None) -> LinkInfo:
        body = rtnl.link_change(ifname=name, mtu=mtu or None, linkinfo=rtnl.bond_linkinfo(options))
        self._change(f"creating bond {name}", rtnl.RTM_NEWLINK, body, create=True)
        info = self.get(name=name)
        if info is None:
            raise CniError(errors.KERNEL_REFUSED, f"bond {name} was created but cannot be found")
        return info

    def set_bond_option(self, index: int, option: str, value) -> None:
        body = rtnl.link_change(index, linkinfo=rtnl.bond_linkinfo({option: value}))
        self._change(f"setting bond option {option}={value}", rtnl.RTM_NEWLINK, body)

    def set_bond_slave_options(self, index: int, options: dict, name: str = "") -> None:
        body = rtnl.link_change(index, linkinfo=rtnl.bond_slave_linkinfo(options))
        shown = ", ".join(f"{k}={v}" for k, v in options.items())
        self._change(f"setting {shown} on slave {name or index}", rtnl.RTM_NEWLINK, body)

    def enslave(self, slave: int, bond: int, name: str = "") -> None:
        self.set(slave, f"enslaving {name or slave}", master=bond)

    def release(self, slave: int, name: str = "") -> None:
        self.set(slave, f"releasing {name or slave} from its bond", master=0)

    def add_address(self, index: int, cidr: str) -> None:
        self._change(f"adding address {cidr}", rtnl.RTM_NEWADDR, rtnl.address_add(index, cidr), create=True)

    def add_route(self, index: int, dst: str, gw: str | None) -> None:
        what = f"adding route {dst}" + (f" via {gw}" if gw else "")
        self._change(what, rtnl.RTM_NEWROUTE, rtnl.route_add(index, dst, gw), create=True)

    def sysctl(self, path: str, value: str) -> None:
        """Write /proc/sys/<path> as seen from this handle's netns."""
        with entered(self.ns_fd), open(f"/proc/sys/{path}", "w", encoding="ascii") as fh:
            fh.write(value)

    def bus_info(self, name: str) -> str:
        """The ethtool driver-info bus address (a PCI address for PCI NICs and VFs), or ""."""
        import array
        import fcntl
        import struct

        with entered(self.ns_fd):
            sock = socket(AF_INET, 2)  # SOCK_DGRAM
        try:
            drvinfo = array.array("B", struct.pack("I", 3) + bytes(192))  # ETHTOOL_GDRVINFO
            ifreq = struct.pack("16sP", name.encode()[:15], drvinfo.buffer_info()[0]) + bytes(16)
            fcntl.ioctl(sock.fileno(), 0x8946, ifreq)  # SIOCETHTOOL
            return drvinfo.tobytes()[4 + 32 * 3 : 4 + 32 * 4].split(b"\0", 1)[0].decode("ascii", "replace")
        except OSError:
            return ""
        finally:
            sock.close()
