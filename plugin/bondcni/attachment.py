"""What ADD's rollback, DEL, CHECK and GC share about one attachment: the two netns handles (Ctx), the undo
stack, the bond's mark, the state record, deleting our bond and putting a slave back where it came from.

Module-level imports are the standard library and this package only (the import budget is a test:
tests/unit/test_imports.py). Node resources are touched only as the node's settings allow (settings.py,
SECURITY.md).
"""

from __future__ import annotations

from . import errors, netlink, os, state
from .errors import CniError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, List, Optional

    from .config import BondOptions
    from .skel import CmdArgs, Log


class Undo:
    """A LIFO of compensating actions.  A failing action is logged and the rest still run."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.items: List[tuple] = []

    def push(self, what: str, fn: Callable, *argv, links: bool = True) -> None:
        """links=False: the action does not touch links, so its failure does not need the state file."""
        self.items.append((what, fn, argv, links))

    def rollback(self) -> None:
        failed = 0
        while self.items:
            what, fn, argv, links = self.items.pop()
            if what == "remove state file" and failed:
                self.log.error("rollback incomplete: keeping the state file so DEL can finish the job")
                continue
            try:
                fn(*argv)
                self.log.info(f"rollback: {what}")
            except Exception as exc:  # keep undoing: one stuck link must not strand the others
                failed += links
                self.log.error(f"rollback: {what} failed: {exc}")


class Ctx:
    """The plugin's own ("host") netns and the pod netns, each with an rtnetlink handle opened on demand."""

    def __init__(self, netns_path: str, log: Log) -> None:
        self.log = log
        self.netns_path = netns_path
        self.host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self.pod_fd: Optional[int] = None
        self._host: Optional[netlink.Handle] = None
        self._pod: Optional[netlink.Handle] = None
        if netns_path:
            self.pod_fd = netlink.open_netns(netns_path)

    @property
    def host(self) -> netlink.Handle:
        if self._host is None:
            self._host = netlink.Handle(None, "host")
        return self._host

    @property
    def pod(self) -> Optional[netlink.Handle]:
        if self._pod is None and self.pod_fd is not None:
            try:
                self._pod = netlink.Handle(self.pod_fd, "pod")
            except OSError as exc:
                raise CniError(
                    errors.INVALID_NETNS, f'"{self.netns_path}" is not a network namespace: {exc.strerror}'
                ) from None
        return self._pod

    def close(self) -> None:
        for handle in (self._pod, self._host):
            if handle is not None:
                handle.close()
        for fd in (self.pod_fd, self.host_fd):
            if fd is not None:
                os.close(fd)


ATTACHMENT_WAIT = (
    120.0  # one attachment's own ADD/DEL overlapping (a runtime retrying): longer than IPAM's limit
)


NODE_WAIT = 60.0  # claiming or returning host links: a short critical section, but 100 pods may queue for it


BOND_MARK = "bond-cni "  # + CNI_CONTAINERID: the bond's ifalias, so DEL and GC only ever delete bonds we made


FALLBACK_NAME = "bcni%d"  # a host link whose name was taken while it was in the pod comes back as bcniN


def bond_mark(container_id: str) -> str:
    return BOND_MARK + container_id


def verify_options(
    handle: netlink.Handle, index: int, options: BondOptions, code: int, skip: tuple = ()
) -> None:
    """Read back every configured option; one the kernel did not apply is an error, not a silent success."""
    got = handle.bond_options(index)
    for key, want in options.configured().items():
        if key not in skip:
            _compare(f"bond option {key}", key, want, got.get(key), code)


def verify_slave_options(handle: netlink.Handle, index: int, name: str, want: dict, code: int) -> None:
    """Read back a slave's configured options (links[].prio, adActorPortPrio) as verify_options does."""
    if not want:
        return
    got = handle.bond_slave_options(index)
    for key, value in want.items():
        _compare(f"slave {name} option {key}", key, value, got.get(key), code)


def _compare(what: str, key: str, want: object, have: object, code: int) -> None:
    if key in ("arp_ip_target", "ns_ip6_target") and have is not None:
        have = tuple(str(x) for x in (have if isinstance(have, (list, tuple)) else [have]))
    if have == want:
        return
    if have is None and code == errors.NOT_APPLIED:  # the kernel does not know the option at all
        from .recent_options import too_old

        older = too_old(key, want)
        if older is not None:
            raise older
    shown = "nothing (the option was not applied)" if have is None else repr(have)
    raise CniError(code, f"{what}: configured {want!r}, the kernel reports {shown}")


def delete_bond(
    pod: netlink.Handle, ifname: str, mark: Optional[str], log: Log, slaves: bool = False
) -> List[str]:
    """Delete the bond (the kernel releases its slaves); with slaves=True, the names of the slaves it had.
    With a mark, only a bond that carries it (one this plugin made for this attachment) is touched."""
    bond = pod.get(name=ifname)
    if bond is None:
        return []
    if bond.kind != "bond":
        log.warning(f'"{ifname}" in the pod is a {bond.kind or "plain"} link, not a bond: leaving it alone')
        return []
    if mark is not None and bond.alias != mark:
        log.warning(
            f'bond "{ifname}" in the pod was not made by this plugin for this attachment: leaving it alone'
        )
        return []
    released = [link.name for link in pod.links() if link.master == bond.index] if slaves else []
    pod.delete(bond.index, ifname)
    return released


def is_recorded(link: netlink.LinkInfo, rec: dict, by_name: bool = True) -> bool:
    """Whether a link is the one the record describes: same ifindex, and the same permanent MAC when the
    device has one (else the same name, or MAC).  A record never makes us touch some other link."""
    if link.index != rec.get("index"):
        return False
    if rec.get("perm_mac"):
        return link.perm_mac.lower() == rec["perm_mac"].lower()
    return (by_name and link.name == rec.get("name")) or link.mac.lower() == (rec.get("mac") or "").lower()


def move_home(pod: netlink.Handle, link: netlink.LinkInfo, host: netlink.Handle, host_fd: int, log: Log):
    """Move a link back to the host under its own name; when the host took that name meanwhile, under a
    fallback name the kernel picks (bcniN), with a warning: DEL must not get stuck on a name.  The link as
    the host sees it now."""
    try:
        pod.set(link.index, f"moving {link.name} back to the host", net_ns_fd=host_fd, ifname=link.name)
        return host.get(name=link.name)
    except CniError as exc:
        if "exists" not in exc.msg:
            raise
    pod.set(link.index, f"moving {link.name} back to the host", net_ns_fd=host_fd, ifname=FALLBACK_NAME)
    back = next((h for h in host.links() if h.name.startswith("bcni") and h.mac == link.mac), None)
    log.warning(
        f'host link "{link.name}" came back as "{back.name if back else "?"}": its name is taken on the host'
    )
    return back


def restore_slave(ctx: Ctx, rec: dict, log: Log) -> None:
    """Put one link back where ADD found it, with its original name, MAC, MTU and admin state."""
    name = rec["name"]
    pod = ctx.pod if ctx.pod_fd is not None else None
    link = None
    if rec.get("origin") == "host":
        handle: Optional[netlink.Handle] = ctx.host
        here = pod.get(name=name) if pod is not None else None
        # in the pod the link has the ifindex it got there (pod_index): it differs when the pod had it taken
        in_pod = dict(rec, index=rec.get("pod_index", rec["index"]))
        if here is not None and not is_recorded(here, in_pod):
            log.warning(f'the pod\'s "{name}" is not the host link ADD moved in: leaving it where it is')
            here = None
        if here is not None:
            if here.master:
                pod.release(here.index, name)
            pod.set_up(here.index, False, name)
            link = move_home(pod, here, ctx.host, ctx.host_fd, log)
        else:  # back already (its netns was destroyed): the same ifindex and MAC, maybe renamed
            link = ctx.host.get(index=rec["index"])
            if link is None or not is_recorded(link, rec, by_name=False):
                link = ctx.host.get(name=name)
                if link is not None and not is_recorded(link, rec):
                    link = None
    else:
        handle = pod
        link = handle.get(name=name) if handle is not None else None
        if link is not None and not is_recorded(link, rec):
            log.warning(f'"{name}" in the pod is not the link ADD bonded: leaving it alone')
            link = None
    if link is None or handle is None:
        log.info(f"link {name} is gone; nothing to put back")
        return
    if link.master:
        handle.release(link.index, link.name)
    want_mac, want_mtu = rec.get("mac"), rec.get("mtu")
    changes = {}
    if want_mac and link.mac.lower() != want_mac.lower():
        changes["address"] = want_mac
    if want_mtu and link.mtu != want_mtu:
        changes["mtu"] = want_mtu
    if changes:
        handle.set_up(link.index, False, link.name)
        handle.set(link.index, f"restoring {link.name} ({', '.join(changes)})", **changes)
    if "up" in rec:
        handle.set_up(link.index, bool(rec["up"]), link.name)


def read_record(sfile: str, args: CmdArgs, log: Log) -> Optional[dict]:
    try:
        record = state.read(sfile)
        return None if record is None else state.validate(record, args.container_id, args.ifname, sfile)
    except CniError as exc:
        log.warning(exc.msg)
        return None


def teardown(
    netns: str,
    ifname: str,
    container_id: str,
    in_container: bool,
    record: Optional[dict],
    sdir: str,
    log: Log,
) -> List[tuple]:
    """Delete our bond and put every slave back; the (slave record, error) pairs that could not be."""
    if netns and not os.path.exists(netns):
        log.info(f"netns {netns} is gone")
        netns = ""
    try:
        ctx = Ctx(netns, log)
    except CniError as exc:  # there, but not a netns we can open: treat as gone
        log.warning(exc.msg)
        ctx = Ctx("", log)
    left: List[tuple] = []
    try:
        released: List[str] = []
        if ctx.pod_fd is not None:
            try:
                pod = ctx.pod
            except CniError as exc:  # a file, but not a netns: nothing of ours can be in it
                log.warning(exc.msg)
                os.close(ctx.pod_fd)
                ctx.pod_fd = pod = None
            if pod is not None:
                legacy = record is not None and record.get("version") == 1  # written before bonds were marked
                mark = None if legacy else bond_mark(container_id)
                released = delete_bond(pod, ifname, mark, log, slaves=record is None)
        if record is not None:
            slaves = record["slaves"]
        else:
            # No record (ADD failed before writing it, or it was lost): only the slaves our marked bond had
            # are known to be ours, and only inside the pod: with no record of where a link came from, none
            # is moved to the host (a pod could have enslaved a link of its own); a host device in the pod
            # goes back to the host's initial netns when the pod's netns is destroyed (the kernel does it).
            slaves = [] if not in_container else [{"name": n, "origin": "container"} for n in released]
        host_links = [rec for rec in slaves if rec.get("origin") == "host"]
        node_lock = state.lock_or_go_on(state.node_lock(sdir), NODE_WAIT, log) if host_links else None
        try:
            for rec in slaves:
                try:
                    if rec.get("index") is None:  # a link named by our bond, without a record
                        link = ctx.pod.get(name=rec["name"]) if ctx.pod_fd is not None else None
                        rec = dict(rec, index=link.index if link else 0, name=rec["name"])
                    restore_slave(ctx, rec, log)
                except CniError as exc:
                    log.error(f"putting {rec.get('name')} back failed: {exc.msg}")
                    left.append((rec, exc))
        finally:
            if node_lock is not None:
                node_lock.release()
    finally:
        ctx.close()
    return left
