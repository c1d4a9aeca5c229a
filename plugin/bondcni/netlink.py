"""The only module that talks netlink.  pyroute2 is imported lazily, inside functions.

A Handle is an rtnetlink socket bound to one network namespace.  The socket for a pod netns is opened by
entering the netns with setns(2) for the moment the socket is created (a netlink socket stays bound to the
netns it was created in), so no helper process is forked: process start-up is the plugin's main cost.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import socket
import struct
import sys
import types
from dataclasses import dataclass
from typing import Iterator, List, Optional

from . import errors
from .errors import CniError

CLONE_NEWNET = 0x40000000
IFF_UP = 0x1
# IFLA_BOND_* the pyroute2 0.9.x bond plugin lacks (include/uapi/linux/if_link.h); without these, pyroute2
# silently drops the attribute from a request and cannot decode it from a dump.
EXTRA_BOND_NLAS = (
    ("IFLA_BOND_PEER_NOTIF_DELAY", "uint32"),  # 28
    ("IFLA_BOND_AD_LACP_ACTIVE", "uint8"),  # 29
    ("IFLA_BOND_MISSED_MAX", "uint8"),  # 30
    ("IFLA_BOND_NS_IP6_TARGET", "hex"),  # 31
    ("IFLA_BOND_COUPLED_CONTROL", "uint8"),  # 32
)
TRANSIENT = (errno.EBUSY, errno.EAGAIN, errno.EINTR)

_patched = False
_libc = None


def _skip_pyroute2_init() -> None:
    """Import pyroute2 submodules without running pyroute2/__init__.py.

    The package __init__ eagerly imports NDB, IPDB, conntrack, nftables, ... (~380 modules); IPRoute needs
    ~100.  Module count is what start-up costs, most of all in the UML lab kernel (7-10 s for the full
    import).  So register a bare package object with the right __path__; submodules import as usual.
    """
    if "pyroute2" in sys.modules:
        return
    import importlib.util

    spec = importlib.util.find_spec("pyroute2")
    if spec is None or not spec.submodule_search_locations:
        return
    pkg = types.ModuleType("pyroute2")
    pkg.__path__ = list(spec.submodule_search_locations)
    pkg.__spec__ = spec
    pkg.__file__ = spec.origin
    pkg.__package__ = "pyroute2"
    sys.modules["pyroute2"] = pkg


def _patch_pyroute2() -> None:
    """Extend pyroute2's bond nla_map so IFLA_BOND attributes >= 28 are encoded and decoded."""
    global _patched
    if _patched:
        return
    _skip_pyroute2_init()
    from pyroute2.netlink.rtnl.ifinfmsg.plugins.bond import bond

    names = [n for n, _ in bond.nla_map]
    if "IFLA_BOND_TLB_DYNAMIC_LB" in names and "IFLA_BOND_PEER_NOTIF_DELAY" not in names:
        assert len(names) == 28, "unexpected pyroute2 bond nla_map layout"
        bond.nla_map = tuple(bond.nla_map) + EXTRA_BOND_NLAS
        bond._nlmsg_base__compiled_nla = False
    _patched = True


def _setns(fd: int) -> None:
    if hasattr(os, "setns"):
        os.setns(fd, CLONE_NEWNET)  # Python >= 3.12
        return
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextlib.contextmanager
def entered(ns_fd: int) -> Iterator[None]:
    """Run the block with this thread in another netns; always return to the original one."""
    with open("/proc/self/ns/net", "rb") as own:
        _setns(ns_fd)
        try:
            yield
        finally:
            _setns(own.fileno())


def open_netns(path: str) -> int:
    """An fd for a netns path; CniError 8 (with the path) if it is not there or not a netns."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise CniError(errors.INVALID_NETNS, f'failed to open netns "{path}": {exc.strerror}') from None


@dataclass(frozen=True)
class LinkInfo:
    index: int
    name: str
    mac: str
    mtu: int
    up: bool
    master: int
    kind: str
    perm_mac: str = ""
    alias: str = ""
    link_netnsid: Optional[int] = None


def _kernel_error(what: str, exc: Exception) -> CniError:
    code = getattr(exc, "code", None)
    if code is None and isinstance(exc, OSError):
        code = exc.errno
    text = os.strerror(code) if isinstance(code, int) and code > 0 else str(exc)
    cni_code = errors.TRY_AGAIN_LATER if code in TRANSIENT else errors.KERNEL_REFUSED
    return CniError(cni_code, f"{what}: {text}")


class Handle:
    """rtnetlink in one netns: the plugin's own (path None) or a pod's."""

    def __init__(self, ns_fd: Optional[int] = None, label: str = "host") -> None:
        _patch_pyroute2()
        from pyroute2.iproute.linux import IPRoute

        self.label = label
        self.ns_fd = ns_fd
        if ns_fd is None:
            self.ipr = IPRoute()
        else:
            with entered(ns_fd):
                self.ipr = IPRoute()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ipr.close()

    def __enter__(self) -> Handle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------------------------

    @staticmethod
    def _info(msg) -> LinkInfo:
        linkinfo = msg.get_attr("IFLA_LINKINFO")
        kind = linkinfo.get_attr("IFLA_INFO_KIND") if linkinfo is not None else None
        return LinkInfo(
            index=msg["index"],
            name=msg.get_attr("IFLA_IFNAME"),
            mac=msg.get_attr("IFLA_ADDRESS") or "",
            mtu=msg.get_attr("IFLA_MTU") or 0,
            up=bool(msg["flags"] & IFF_UP),
            master=msg.get_attr("IFLA_MASTER") or 0,
            kind=kind or "",
            perm_mac=msg.get_attr("IFLA_PERM_ADDRESS") or "",
            alias=msg.get_attr("IFLA_IFALIAS") or "",
            link_netnsid=msg.get_attr("IFLA_LINK_NETNSID"),
        )

    def links(self) -> List[LinkInfo]:
        try:
            return [self._info(m) for m in self.ipr.get_links()]
        except Exception as exc:
            raise _kernel_error(f"listing links in the {self.label} netns", exc) from None

    def get(self, name: Optional[str] = None, index: Optional[int] = None) -> Optional[LinkInfo]:
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            if index is not None:
                msgs = self.ipr.get_links(index)
            else:
                msgs = self.ipr.link("get", ifname=name)
        except NetlinkError as exc:
            if exc.code in (errno.ENODEV, errno.ENOENT, errno.EINVAL):
                return None
            raise _kernel_error(f"looking up link {name or index} in the {self.label} netns", exc) from None
        return self._info(msgs[0]) if msgs else None

    def bond_options(self, index: int) -> dict:
        """Every IFLA_BOND_* attribute the kernel reports, by lower-case short name (e.g. "miimon")."""
        msg = self.ipr.get_links(index)[0]
        data = msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA")
        out = {}
        if data is None:
            return out
        for nla in data["attrs"]:
            name, value = nla[0], nla[1]
            if name.startswith("IFLA_BOND_"):
                out[name[len("IFLA_BOND_") :].lower()] = value
        return out

    def addresses(self, index: int) -> List[str]:
        out = []
        for msg in self.ipr.get_addr(index=index):
            out.append(f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}")
        return out

    def routes(self, index: int) -> List[dict]:
        out = []
        for family in (socket.AF_INET, socket.AF_INET6):
            for msg in self.ipr.get_routes(family=family, oif=index, table=254):
                dst = msg.get_attr("RTA_DST")
                default = "0.0.0.0" if family == socket.AF_INET else "::"
                out.append({"dst": f"{dst or default}/{msg['dst_len']}", "gw": msg.get_attr("RTA_GATEWAY")})
        return out

    def addresses_detail(self, index: Optional[int] = None) -> List[dict]:
        kw = {"index": index} if index is not None else {}
        return [
            {
                "index": m["index"],
                "address": f"{m.get_attr('IFA_ADDRESS')}/{m['prefixlen']}",
                "family": m["family"],
                "scope": m["scope"],
            }
            for m in self.ipr.get_addr(**kw)
        ]

    def all_routes(self) -> List[dict]:
        out = []
        for family in (socket.AF_INET, socket.AF_INET6):
            for m in self.ipr.get_routes(family=family):
                dst = m.get_attr("RTA_DST")
                out.append(
                    {
                        "dst": f"{dst}/{m['dst_len']}"
                        if dst
                        else ("0.0.0.0/0" if family == socket.AF_INET else "::/0"),
                        "gw": m.get_attr("RTA_GATEWAY"),
                        "oif": m.get_attr("RTA_OIF"),
                        "table": m.get_attr("RTA_TABLE") or m["table"],
                        "family": family,
                    }
                )
        return out

    # -- changing -----------------------------------------------------------------------------------------

    def _do(self, what: str, *argv, **kwarg):
        try:
            return self.ipr.link(*argv, **kwarg)
        except Exception as exc:
            raise _kernel_error(f"{what} (in the {self.label} netns)", exc) from None

    def set(self, index: int, what: str, **attrs) -> None:
        self._do(what, "set", index=index, **attrs)

    def set_alias(self, index: int, text: str) -> None:
        self.set(index, f"marking link {index}", ifalias=text)

    def rename(self, index: int, new_name: str) -> None:
        self.set(index, f"renaming link {index} to {new_name}", ifname=new_name)

    def set_up(self, index: int, up: bool, name: str = "") -> None:
        self.set(index, f"setting {name or index} {'up' if up else 'down'}", state="up" if up else "down")

    def move(self, index: int, target_ns_fd: int, name: str = "") -> None:
        self.set(index, f"moving {name or index} to another netns", net_ns_fd=target_ns_fd)

    def delete(self, index: int, name: str = "") -> None:
        self._do(f"deleting {name or index}", "del", index=index)

    def create_bond(self, name: str, options: dict, mtu: Optional[int]) -> LinkInfo:
        attrs = {f"bond_{k}": (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}
        if mtu:
            attrs["mtu"] = mtu
        self._do(f"creating bond {name}", "add", ifname=name, kind="bond", **attrs)
        info = self.get(name=name)
        if info is None:
            raise CniError(errors.KERNEL_REFUSED, f"bond {name} was created but cannot be found")
        return info

    def set_bond_option(self, index: int, option: str, value) -> None:
        self._do(
            f"setting bond option {option}={value}",
            "set",
            index=index,
            kind="bond",
            **{f"bond_{option}": value},
        )

    def enslave(self, slave: int, bond: int, name: str = "") -> None:
        self.set(slave, f"enslaving {name or slave}", master=bond)

    def release(self, slave: int, name: str = "") -> None:
        self.set(slave, f"releasing {name or slave} from its bond", master=0)

    def add_address(self, index: int, cidr: str) -> None:
        addr, _, plen = cidr.partition("/")
        try:
            self.ipr.addr("add", index=index, address=addr, prefixlen=int(plen))
        except Exception as exc:
            raise _kernel_error(f"adding address {cidr}", exc) from None

    def add_route(self, index: int, dst: str, gw: Optional[str]) -> None:
        spec = {"dst": dst, "oif": index}
        if gw:
            spec["gateway"] = gw
        try:
            self.ipr.route("add", **spec)
        except Exception as exc:
            raise _kernel_error(f"adding route {dst}" + (f" via {gw}" if gw else ""), exc) from None

    def sysctl(self, path: str, value: str) -> None:
        """Write /proc/sys/<path> as seen from this handle's netns."""
        ctx = entered(self.ns_fd) if self.ns_fd is not None else contextlib.nullcontext()
        with ctx, open(f"/proc/sys/{path}", "w", encoding="ascii") as fh:
            fh.write(value)

    def bus_info(self, name: str) -> str:
        """The ethtool driver-info bus address (a PCI address for PCI NICs and VFs), or ""."""
        ctx = entered(self.ns_fd) if self.ns_fd is not None else contextlib.nullcontext()
        with ctx:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            buf = ctypes.create_string_buffer(struct.pack("I", 3) + b"\0" * 192)  # ETHTOOL_GDRVINFO
            ifreq = struct.pack("16sP", name.encode()[:15], ctypes.addressof(buf)) + b"\0" * 16
            fcntl.ioctl(sock.fileno(), 0x8946, ifreq)  # SIOCETHTOOL
            return buf.raw[4 + 32 * 3 : 4 + 32 * 4].split(b"\0", 1)[0].decode("ascii", "replace")
        except OSError:
            return ""
        finally:
            sock.close()
