"""Which host links a network config may take (linksInContainer false): the node's choice, never the NAD's.

A host link is refused when moving it would take something from the node: it holds a global address, a
route goes through it (the default route included), it is the loopback, or it is a virtual link (veth,
bridge, vxlan, macvlan, a pod's host-side veth, cni0, ...) or otherwise not backed by a device - unless the
node's settings allow its name (hostLinks.allow). Addresses and routes are never moved with a link: a link
that has them is refused even when allowed, so nothing of the node's is lost on ADD, rollback or DEL. With
hostLinks.onlyAllowed, every host link must be allowed by name. Every refusal is CNI error 106 naming the
link and the rule.
"""

from __future__ import annotations

from . import errors, inet, sysfs
from .errors import CniError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping, Sequence

    from .netlink import Handle, LinkInfo
    from .settings import HostLinkPolicy

RT_SCOPE_UNIVERSE = 0
RT_TABLE_LOCAL = 255


def matches(name: str, patterns: Sequence[str]) -> bool:
    """Shell-style patterns with '*' and '?' (fnmatch without its ~25 modules of start-up)."""
    return any(_match(name, p) for p in patterns)


def _match(text: str, pattern: str) -> bool:
    t = p = 0
    star, mark = -1, 0
    while t < len(text):
        if p < len(pattern) and pattern[p] in ("?", text[t]):
            t, p = t + 1, p + 1
        elif p < len(pattern) and pattern[p] == "*":
            star, mark, p = p, t, p + 1
        elif star >= 0:
            p, mark = star + 1, mark + 1
            t = mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def _kernel_route(route: dict) -> bool:
    """Routes every up IPv6 link has (link-local, multicast) and the local table's mirror of addresses."""
    if route.get("table") == RT_TABLE_LOCAL:
        return True
    dst = route.get("dst") or ""
    try:
        return inet.ip_version(dst.partition("/")[0]) == 6 and (
            inet.in_prefix(dst.partition("/")[0], "fe80::/10")
            or inet.in_prefix(dst.partition("/")[0], "ff00::/8")
        )
    except ValueError:
        return False


def _refuse(path: str, name: str, rule: str) -> CniError:
    return CniError(errors.POLICY, f'{path}: host link "{name}" refused: {rule}')


def check(path: str, info: LinkInfo, host: Handle, policy: HostLinkPolicy, env: Mapping[str, str]) -> None:
    allowed = matches(info.name, policy.allow)
    if policy.only_allowed and not allowed:
        raise _refuse(
            path, info.name, "the node's hostLinks.onlyAllowed is set and hostLinks.allow does not list it"
        )
    if info.name == "lo" or info.kind == "loopback":
        raise _refuse(path, info.name, "it is the loopback")
    for addr in host.addresses_detail(info.index):
        if addr.get("scope") == RT_SCOPE_UNIVERSE:
            raise _refuse(path, info.name, f"it holds the global address {addr['address']} (the node's)")
    for route in host.all_routes():
        oifs = [route.get("oif")] + [hop.get("oif") for hop in route.get("nexthops") or ()]  # multipath too
        if info.index in oifs and not _kernel_route(route):
            dst = route.get("dst") or "default"
            what = "the default route" if dst in ("default", "0.0.0.0/0", "::/0") else f"the route to {dst}"
            raise _refuse(path, info.name, f"{what} (table {route.get('table')}) goes through it")
    if allowed:
        return
    if info.kind:
        raise _refuse(
            path,
            info.name,
            f"it is a virtual link ({info.kind}), as a pod's veth, a bridge or a tunnel is; the node admin "
            "may allow it by name in hostLinks.allow",
        )
    if not sysfs.has_device(info.name, env):
        raise _refuse(
            path,
            info.name,
            "it is not backed by a device; the node admin may allow it by name in hostLinks.allow",
        )
