"""ADD, DEL, CHECK, GC and STATUS.  Each reads top-down; ADD rolls back through an undo stack.

Module-level imports are the standard library and this package only (the import budget is a test:
tests/unit/test_imports.py).
Node resources are touched only as the node's settings allow (settings.py, SECURITY.md).
"""

from __future__ import annotations

import os

from . import config, errors, host_policy, inet, ipam, netlink, result, state, sysfs
from .errors import CniError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, List, Mapping, Optional

    from .config import BondConf, BondOptions
    from .settings import Settings
    from .skel import CmdArgs, Log

# The steps of ADD, in order.  BONDCNI_TEST_FAULT=<step> fails ADD right after that step (the rollback runs);
# BONDCNI_TEST_FAULT=<step>:kill kills the plugin there with SIGKILL (nothing runs; DEL must clean up).
ADD_STEPS = (
    "resolve-links",
    "record-state",
    "move-links",
    "create-bond",
    "enslave",
    "bond-up",
    "ipam",
    "configure",
    "result",
)


def fault(step: str, env: Mapping[str, str]) -> None:
    spec = env.get("BONDCNI_TEST_FAULT", "")
    name, _, how = spec.partition(":")
    if not spec or name != step:
        return
    if how == "kill":
        os.kill(os.getpid(), 9)  # SIGKILL
    raise CniError(errors.INTERNAL, f"test fault injected after ADD step {step}")


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


# ----------------------------------------------------------------------------------------------------------
# ADD

ATTACHMENT_WAIT = (
    120.0  # one attachment's own ADD/DEL overlapping (a runtime retrying): longer than IPAM's limit
)
NODE_WAIT = 60.0  # claiming or returning host links: a short critical section, but 100 pods may queue for it
BOND_MARK = "bond-cni "  # + CNI_CONTAINERID: the bond's ifalias, so DEL and GC only ever delete bonds we made
FALLBACK_NAME = "bcni%d"  # a host link whose name was taken while it was in the pod comes back as bcniN


def bond_mark(container_id: str) -> str:
    return BOND_MARK + container_id


def cmd_add(args: CmdArgs, log: Log) -> dict:
    conf = config.parse(args.stdin)
    sdir = state.ensure_dir(args.settings.state_dir)
    lock = state.attachment_lock(sdir, args.container_id, args.ifname).acquire_or_fail(ATTACHMENT_WAIT)
    try:
        return _add_locked(conf, args, log, sdir)
    finally:
        lock.release()


def _add_locked(conf: BondConf, args: CmdArgs, log: Log, sdir: str) -> dict:
    sfile = state.path(sdir, args.container_id, args.ifname)
    if state.read(sfile) is not None:
        raise CniError(
            errors.LINK_PROBLEM,
            f"attachment {args.container_id}/{args.ifname} already exists (state file {sfile}): DEL it first",
        )
    ctx = Ctx(args.netns, log)
    undo = Undo(log)
    try:
        return _add(conf, args, ctx, undo, sdir, sfile, log)
    except BaseException:
        undo.rollback()
        raise
    finally:
        ctx.close()


def _add(conf: BondConf, args: CmdArgs, ctx: Ctx, undo: Undo, sdir: str, sfile: str, log: Log) -> dict:
    env, pod, node = args.env, ctx.pod, args.settings
    assert pod is not None
    if pod.get(name=args.ifname) is not None:
        raise CniError(errors.LINK_PROBLEM, f'interface "{args.ifname}" already exists in netns {args.netns}')
    if conf.ipam_type:
        ipam.find(conf.ipam_type, env.get("CNI_PATH", ""))  # a missing IPAM plugin fails before any change

    # Claim the links.  Host links are node resources: resolving, recording and moving them is the one
    # section serialised node-wide (two attachments must not claim one link); links in the pod are not.
    node_lock = state.node_lock(sdir) if not conf.links_in_container else None
    if node_lock is not None:
        node_lock.acquire_or_fail(NODE_WAIT)
    try:
        slaves = _resolve_links(conf, ctx, node, env)
        _check_distinct_pf(conf, node, slaves, env, log)
        mtu = _bond_mtu(conf, slaves, env)
        fault("resolve-links", env)

        state.write(sfile, _state_record(conf, args, slaves))
        undo.push("remove state file", state.remove, sfile)
        fault("record-state", env)

        moved = False
        for rec in slaves:
            undo.push(f"put {rec['name']} back", restore_slave, ctx, rec, log)
            if rec["origin"] == "host":
                ctx.host.set_up(rec["index"], False, rec["name"])
                ctx.host.move(rec["index"], ctx.pod_fd, rec["name"])
                rec["pod_index"] = _must_get(pod, rec["name"], "pod").index  # kept unless the pod had it
                moved = True
        if moved:
            state.write(sfile, _state_record(conf, args, slaves))
        fault("move-links", env)
    finally:
        if node_lock is not None:
            node_lock.release()

    # The bond: its undo is registered before it exists (the name was free a moment ago, so a bond of that
    # name is ours), so a failure anywhere after the request - reading it back included - removes it.
    undo.push(f"delete bond {args.ifname}", _delete_bond, pod, args.ifname, None, log)
    bond = pod.create_bond(args.ifname, conf.options.configured(), mtu)
    pod.set_alias(bond.index, bond_mark(args.container_id))
    verify_options(pod, bond.index, conf.options, errors.NOT_APPLIED)
    fault("create-bond", env)

    _dedupe_macs(conf, pod, slaves, log)
    for rec in slaves:
        index = rec.get("pod_index", rec["index"])  # where the link is in the pod now
        pod.set_up(index, False, rec["name"])  # the bonding driver refuses to enslave an up link...
        pod.enslave(index, bond.index, rec["name"])  # ...and opens it itself
        fault("enslave", env)
    if conf.primary:
        primary = _must_get(pod, conf.primary, "pod")
        pod.set_bond_option(bond.index, "primary", primary.index)
        got = pod.bond_options(bond.index).get("primary")
        if got != primary.index:
            raise CniError(
                errors.NOT_APPLIED, f"bond option primary: configured {conf.primary}, kernel reports {got}"
            )
    pod.set_up(bond.index, True, args.ifname)
    fault("bond-up", env)

    # The result: what earlier plugins in the chain reported (prevResult) is kept; the bond and IPAM's
    # addresses, routes and DNS are added to it.
    prev = (
        dict(conf.prev_result) if conf.prev_result else {"interfaces": [], "ips": [], "routes": [], "dns": {}}
    )
    out = {
        "interfaces": list(prev["interfaces"]),
        "ips": list(prev["ips"]),
        "routes": list(prev["routes"]),
        "dns": dict(prev["dns"]),
    }
    bond_pos = len(out["interfaces"])
    if conf.ipam_type:
        what = f"release the address from IPAM plugin {conf.ipam_type}"
        undo.push(what, ipam.run, conf.ipam_type, "DEL", env, args.stdin, node.ipam_timeout, links=False)
        got = result.normalize(
            ipam.run(conf.ipam_type, "ADD", env, args.stdin, node.ipam_timeout), "IPAM result"
        )
        fault("ipam", env)
        if not got["ips"]:
            raise CniError(errors.IPAM_RESULT, "IPAM plugin returned missing IP config")
        configure_addresses(pod, bond.index, args.ifname, got)
        fault("configure", env)
        out["ips"] += [dict(ip, interface=bond_pos) for ip in got["ips"]]
        out["routes"] += got["routes"]
        out["dns"] = result.merge_dns(out["dns"], got["dns"])
    out["dns"] = result.merge_dns(out["dns"], conf.dns)

    now = {link.index: link for link in pod.links()}  # one dump: the bond's and slaves' MACs as they are now
    for index, pci in [(bond.index, None)] + [
        (rec.get("pod_index", rec["index"]), rec.get("pci")) for rec in slaves
    ]:
        link = now.get(index)
        if link is None:
            raise CniError(errors.LINK_PROBLEM, f"link {index} disappeared from the pod netns")
        out["interfaces"].append(result.interface(link.name, link.mac, args.netns, link.mtu, pci))
    fault("result", env)
    log.info(f"added bond {args.ifname} ({conf.mode}) over {[r['name'] for r in slaves]}")
    return result.convert(out, conf.cni_version)


def _must_get(handle: netlink.Handle, name: str, where: str) -> netlink.LinkInfo:
    info = handle.get(name=name)
    if info is None:
        raise CniError(errors.LINK_PROBLEM, f'link "{name}" disappeared from the {where} netns')
    return info


def _resolve_links(conf: BondConf, ctx: Ctx, node: Settings, env: Mapping[str, str]) -> List[dict]:
    """Find every configured link (by name or PCI address), check it may be taken, snapshot its state."""
    origin = "container" if conf.links_in_container else "host"
    handle = ctx.pod if conf.links_in_container else ctx.host
    assert handle is not None
    out: List[dict] = []
    for link in conf.links:
        name = link.name
        if link.pci is not None:
            if origin == "host":
                _check_pci_handed(link, node)
            name = _name_of_pci(link.pci, conf.links_in_container, handle, env)
            if name is None:
                raise CniError(
                    errors.LINK_PROBLEM,
                    f"{link.path}: no network interface with PCI address {link.pci} in the {origin} netns",
                )
        info = handle.get(name=name)
        if info is None:
            raise CniError(errors.LINK_PROBLEM, f'{link.path}: link "{name}" not found in the {origin} netns')
        if info.master:
            raise CniError(
                errors.LINK_PROBLEM,
                f'{link.path}: link "{name}" is already enslaved (master ifindex {info.master})',
            )
        if any(rec["index"] == info.index for rec in out):
            raise CniError(errors.INVALID_CONFIG, f'{link.path}: link "{name}" is listed twice')
        if origin == "host":
            host_policy.check(link.path, info, ctx.host, node.host_links, env)
            if ctx.pod is not None and ctx.pod.get(name=name) is not None:
                raise CniError(
                    errors.LINK_PROBLEM, f'{link.path}: the pod netns already has a link named "{name}"'
                )
        pci = link.pci or (sysfs.pci_of_netdev(name, env) if origin == "host" else None)
        out.append(
            {
                "path": link.path,
                "name": info.name,
                "index": info.index,
                "mac": info.mac,
                "perm_mac": info.perm_mac,
                "mtu": info.mtu,
                "up": info.up,
                "origin": origin,
                "pci": pci,
            }
        )
    return out


def _check_pci_handed(link: config.Link, node: Settings) -> None:
    """A host device named by PCI address must be one the runtime handed to this pod (the device plugin's,
    via Multus's deviceID/runtimeConfig), unless the node admin allows that address."""
    if link.handed or host_policy.matches(link.pci, node.host_links.allow_pci):
        return
    raise CniError(
        errors.POLICY,
        f"{link.path}: PCI device {link.pci} was not handed to this pod by the runtime (deviceID / "
        "runtimeConfig.deviceID), and the node's hostLinks.allowPciAddresses does not allow it",
    )


def _name_of_pci(
    pci: str, in_container: bool, handle: netlink.Handle, env: Mapping[str, str]
) -> Optional[str]:
    if not in_container:
        return sysfs.netdev_of_pci(pci, env)
    for link in handle.links():  # the pod's sysfs is not ours to read: ask each link's driver for its bus
        if handle.bus_info(link.name).lower() == pci:
            return link.name
    return None


def _check_distinct_pf(
    conf: BondConf, node: Settings, slaves: List[dict], env: Mapping[str, str], log: Log
) -> None:
    required = node.require_distinct_pf if conf.require_distinct_pf is None else conf.require_distinct_pf
    by_pf: dict = {}
    for rec in slaves:
        pf = sysfs.pf_of(rec["pci"], env) if rec.get("pci") else None
        if pf:
            by_pf.setdefault(pf, []).append(rec["name"])
    for pf, names in by_pf.items():
        if len(names) < 2:
            continue
        msg = f"links {names} share the physical function {pf}: one PF failure takes the whole bond down"
        if required:
            raise CniError(errors.INVALID_CONFIG, f"requireDistinctPF: {msg}")
        log.warning(msg + " (set requireDistinctPF to make this an error)")


def _bond_mtu(conf: BondConf, slaves: List[dict], env: Mapping[str, str]) -> int:
    """The configured MTU, checked against every slave (and the PF of a VF); unset: min(1500, slaves)."""
    if not conf.mtu:
        return min([1500] + [rec["mtu"] for rec in slaves])
    for rec in slaves:
        if conf.mtu > rec["mtu"]:
            raise CniError(
                errors.INVALID_CONFIG,
                f"mtu: expected at most the MTU of every link, got {conf.mtu} but {rec['path']} "
                f"({rec['name']}) has MTU {rec['mtu']}",
            )
        pf_mtu = sysfs.pf_mtu(rec["pci"], env) if rec.get("pci") else None
        if pf_mtu is not None and conf.mtu > pf_mtu:
            raise CniError(
                errors.INVALID_CONFIG,
                f"mtu: expected at most the MTU of the PF owning {rec['name']}, got {conf.mtu} > {pf_mtu}",
            )
    return conf.mtu


def _state_record(conf: BondConf, args: CmdArgs, slaves: List[dict]) -> dict:
    return {
        "version": state.VERSION,
        "network": conf.name,
        "containerID": args.container_id,
        "ifname": args.ifname,
        "netns": args.netns,
        "linksInContainer": conf.links_in_container,
        "ipam": conf.ipam_type,
        "slaves": slaves,
    }


def _random_mac() -> str:
    raw = bytearray(os.urandom(6))
    raw[0] = (raw[0] & 0xFE) | 0x02  # unicast, locally administered
    return ":".join(f"{b:02x}" for b in raw)


def _dedupe_macs(conf: BondConf, pod: netlink.Handle, slaves: List[dict], log: Log) -> None:
    """balance-tlb/alb need a distinct MAC per slave: give a duplicate a random locally administered one
    (as bytes, unlike upstream's 30:32:3a:... ASCII bug).  DEL and rollback restore the original."""
    if conf.mode not in config.TLB_MODES:
        return
    seen = set()
    for rec in slaves:
        link = _must_get(pod, rec["name"], "pod")
        if link.mac.lower() in seen:
            new = _random_mac()
            pod.set_up(link.index, False, link.name)
            pod.set(link.index, f"setting the MAC of {link.name} to {new}", address=new)
            log.info(f"{link.name} had the same MAC as another slave ({link.mac}); now {new}")
            seen.add(new)
        else:
            seen.add(link.mac.lower())


def verify_options(
    handle: netlink.Handle, index: int, options: BondOptions, code: int, skip: tuple = ()
) -> None:
    """Read back every configured option; one the kernel did not apply is an error, not a silent success."""
    got = handle.bond_options(index)
    for key, want in options.configured().items():
        if key in skip:
            continue
        have = got.get(key)
        if key == "arp_ip_target" and have is not None:
            have = tuple(str(x) for x in (have if isinstance(have, (list, tuple)) else [have]))
        if have != want:
            shown = "nothing (the option was not applied)" if have is None else repr(have)
            raise CniError(code, f"bond option {key}: configured {want!r}, the kernel reports {shown}")


def configure_addresses(pod: netlink.Handle, index: int, ifname: str, got: dict) -> None:
    """ipam.ConfigureIface: addresses on the bond, routes via the given gw or the same family's gateway."""
    gateways = {}
    for ip in got["ips"]:
        version = inet.parse_cidr(ip["address"])[0]
        if version == 6:
            try:
                pod.sysctl(f"net/ipv6/conf/{ifname}/disable_ipv6", "0")
            except OSError:
                pass
        pod.add_address(index, ip["address"])
        if ip.get("gateway"):
            gateways.setdefault(version, ip["gateway"])
    for rt in got["routes"]:
        version = inet.parse_cidr(rt["dst"])[0]
        pod.add_route(index, rt["dst"], rt.get("gw") or gateways.get(version))


# ----------------------------------------------------------------------------------------------------------
# putting things back (rollback, DEL and GC)


def _delete_bond(
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


def _is_recorded(link: netlink.LinkInfo, rec: dict, by_name: bool = True) -> bool:
    """Whether a link is the one the record describes: same ifindex, and the same permanent MAC when the
    device has one (else the same name, or MAC).  A record never makes us touch some other link."""
    if link.index != rec.get("index"):
        return False
    if rec.get("perm_mac"):
        return link.perm_mac.lower() == rec["perm_mac"].lower()
    return (by_name and link.name == rec.get("name")) or link.mac.lower() == (rec.get("mac") or "").lower()


def _move_home(pod: netlink.Handle, link: netlink.LinkInfo, host: netlink.Handle, host_fd: int, log: Log):
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
        if here is not None and not _is_recorded(here, in_pod):
            log.warning(f'the pod\'s "{name}" is not the host link ADD moved in: leaving it where it is')
            here = None
        if here is not None:
            if here.master:
                pod.release(here.index, name)
            pod.set_up(here.index, False, name)
            link = _move_home(pod, here, ctx.host, ctx.host_fd, log)
        else:  # back already (its netns was destroyed): the same ifindex and MAC, maybe renamed
            link = ctx.host.get(index=rec["index"])
            if link is None or not _is_recorded(link, rec, by_name=False):
                link = ctx.host.get(name=name)
                if link is not None and not _is_recorded(link, rec):
                    link = None
    else:
        handle = pod
        link = handle.get(name=name) if handle is not None else None
        if link is not None and not _is_recorded(link, rec):
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


# ----------------------------------------------------------------------------------------------------------
# DEL


def cmd_del(args: CmdArgs, log: Log) -> None:
    """Best-effort and idempotent: IPAM first, then the bond, then each link (every one is tried; failures
    are reported at the end and the record keeps only what is left to do)."""
    dconf = config.parse_for_del(args.stdin)
    if dconf.problem is not None:
        log.warning(f"the config does not validate ({dconf.problem.msg}); deleting what can be found")
    sdir = state.ensure_dir(args.settings.state_dir)
    lock = state.lock_or_go_on(
        state.attachment_lock(sdir, args.container_id, args.ifname), ATTACHMENT_WAIT, log
    )
    try:
        _del_locked(args, dconf, sdir, log)
    finally:
        lock.release(remove=True)


def _read_record(sfile: str, args: CmdArgs, log: Log) -> Optional[dict]:
    try:
        record = state.read(sfile)
        return None if record is None else state.validate(record, args.container_id, args.ifname, sfile)
    except CniError as exc:
        log.warning(exc.msg)
        return None


def _del_locked(args: CmdArgs, dconf: config.DelConf, sdir: str, log: Log) -> None:
    sfile = state.path(sdir, args.container_id, args.ifname)
    record = _read_record(sfile, args, log)
    failures: List[CniError] = []
    ipam_type = dconf.ipam_type or (record or {}).get("ipam", "")
    if ipam_type:
        try:
            ipam.run(ipam_type, "DEL", args.env, args.stdin, args.settings.ipam_timeout)
        except CniError as exc:
            failures.append(exc)
    left = _teardown(args.netns, args.ifname, args.container_id, dconf.links_in_container, record, sdir, log)
    if left:
        failures.append(left[0][1])
        state.write(sfile, dict(record or {}, slaves=[rec for rec, _ in left]))  # what a retry must finish
    else:
        state.remove(sfile)
    if failures:
        raise failures[0]
    if dconf.problem is not None and dconf.problem.code == errors.DECODE_FAILURE:
        raise dconf.problem


def _teardown(
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
                released = _delete_bond(pod, ifname, mark, log, slaves=record is None)
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


# ----------------------------------------------------------------------------------------------------------
# CHECK, GC, STATUS


def _check_failed(msg: str) -> CniError:
    return CniError(errors.CHECK_FAILED, msg)


def cmd_check(args: CmdArgs, log: Log) -> None:
    conf = config.parse(args.stdin)
    if conf.prev_result is None:
        raise CniError(
            errors.INVALID_CONFIG, "prevResult: expected the result of ADD (CHECK needs it), got nothing"
        )
    prev = dict(conf.prev_result)
    if conf.ipam_type:
        ipam.run(conf.ipam_type, "CHECK", args.env, args.stdin, args.settings.ipam_timeout)
    sfile = state.path(args.settings.state_dir, args.container_id, args.ifname)
    record = _read_record(sfile, args, log)
    ctx = Ctx(args.netns, log)
    try:
        pod = ctx.pod
        assert pod is not None
        bond = pod.get(name=args.ifname)
        if bond is None:
            raise _check_failed(f'bond "{args.ifname}" not found in netns {args.netns}')
        if bond.kind != "bond":
            raise _check_failed(f'"{args.ifname}" is a {bond.kind or "plain"} link, not a bond')
        if not bond.up:
            raise _check_failed(f'bond "{args.ifname}" is down')
        if conf.mtu and bond.mtu != conf.mtu:
            raise _check_failed(f'bond "{args.ifname}" has MTU {bond.mtu}, configured {conf.mtu}')
        # fail_over_mac not set by the user: the kernel forces "active" when the first slave cannot change its
        # MAC (e.g. a VF without trust); that is not drift.
        skip = () if conf.fail_over_mac_explicit else ("fail_over_mac",)
        verify_options(pod, bond.index, conf.options, errors.CHECK_FAILED, skip)
        names = [s["name"] for s in (record or {}).get("slaves", [])] or [
            lk.name for lk in conf.links if lk.name
        ]
        for name in names:
            link = pod.get(name=name)
            if link is None:
                raise _check_failed(f'slave "{name}" not found in netns {args.netns}')
            if link.master != bond.index:
                raise _check_failed(f'slave "{name}" is not enslaved to "{args.ifname}"')
            if not link.up:
                raise _check_failed(f'slave "{name}" is down')
        if conf.primary:
            want = pod.get(name=conf.primary)
            got = pod.bond_options(bond.index).get("primary")
            if want is None or got != want.index:
                raise _check_failed(f'bond "{args.ifname}" primary is not "{conf.primary}"')
        _check_addresses(pod, bond.index, args.ifname, prev)
    finally:
        ctx.close()


def _check_addresses(pod: netlink.Handle, index: int, ifname: str, prev: dict) -> None:
    """The bond's addresses from prevResult are on the bond; its routes exist in the pod, in any table and
    through any interface (a chained plugin such as sbr moves them into a table of their own)."""
    ifaces = prev["interfaces"]
    have = {inet.normal_interface(a) for a in pod.addresses(index)}
    for ip in prev["ips"]:
        pos = ip.get("interface")
        if isinstance(pos, int) and 0 <= pos < len(ifaces) and ifaces[pos].get("name") != ifname:
            continue
        want = inet.normal_interface(ip["address"])
        if want not in have:
            raise _check_failed(
                f'address {want} from prevResult is missing on "{ifname}" (has {sorted(have)})'
            )
    got = set()
    for route in pod.all_routes():
        dst = inet.normal_network(route.get("dst") or ("0.0.0.0/0" if route.get("family") == 2 else "::/0"))
        for gw in [route.get("gw")] + [hop.get("gw") for hop in route.get("nexthops") or ()]:
            got.add((dst, inet.normal_ip(gw) if gw else None))
    for rt in prev["routes"]:
        dst = inet.normal_network(rt["dst"])
        gw = inet.normal_ip(rt["gw"]) if rt.get("gw") else None
        if not any(d == dst and (gw is None or g == gw) for d, g in got):
            raise _check_failed(f"route to {dst} from prevResult is missing in the pod")


def cmd_gc(args: CmdArgs, log: Log) -> None:
    """Tear down attachments of this network that the runtime no longer lists (CNI 1.1 GC), then forward GC
    to IPAM.  A record is matched by its attachment key; one whose bond is still alive in its netns is kept
    (a network name is the NAD writer's choice: GC of one tenant's network must not tear down another's)."""
    conf = config.parse(args.stdin)
    if conf.valid_attachments is None:
        log.warning("GC without cni.dev/valid-attachments: keeping all state")
    else:
        valid = set(conf.valid_attachments)
        sdir = state.ensure_dir(args.settings.state_dir)
        for filename, record in state.records(sdir):
            key = (record.get("containerID"), record.get("ifname"))
            if record.get("network") != conf.name or key in valid:
                continue
            _collect(sdir, filename, record, log)
    if conf.ipam_type:
        ipam.run(conf.ipam_type, "GC", args.env, args.stdin, args.settings.ipam_timeout)


def _collect(sdir: str, filename: str, record: dict, log: Log) -> None:
    container_id, ifname = record.get("containerID"), record.get("ifname")
    if not (config.is_name(container_id) and config.is_ifname(ifname)):
        log.warning(f"GC: {filename} names no valid attachment; left alone")
        return
    if filename != state.path(sdir, container_id, ifname):
        log.warning(f"GC: {filename} is not where the record of {container_id}/{ifname} belongs; left alone")
        return
    lock = state.attachment_lock(sdir, container_id, ifname)
    if not lock.acquire(1.0):
        return  # its ADD or DEL is running: not stale
    try:
        try:
            record = state.validate(record, container_id, ifname, filename)
        except CniError as exc:
            log.warning(f"GC: {exc.msg}")
            return
        if _alive(record):
            log.warning(f"GC: {container_id}/{ifname} is not listed as valid, but its bond is alive: kept")
            return
        left = _teardown(
            record.get("netns", ""),
            ifname,
            container_id,
            bool(record.get("linksInContainer")),
            record,
            sdir,
            log,
        )
        if left:
            state.write(filename, dict(record, slaves=[rec for rec, _ in left]))
            return
        log.info(f"GC: {container_id}/{ifname} was stale; its links are back, its record dropped")
        state.remove(filename)
    finally:
        lock.release(remove=True)


def _alive(record: dict) -> bool:
    """Whether the attachment's netns still holds the bond this plugin made for it."""
    netns = record.get("netns") or ""
    if not isinstance(netns, str) or not netns or not os.path.exists(netns):
        return False
    try:
        fd = netlink.open_netns(netns)
    except CniError:
        return False
    try:
        with netlink.Handle(fd, "pod") as pod:
            bond = pod.get(name=record["ifname"])
            return bond is not None and bond.kind == "bond" and bond.alias == bond_mark(record["containerID"])
    except (CniError, OSError):
        return False
    finally:
        os.close(fd)


def bonding_available(env: Mapping[str, str]) -> bool:
    """The bonding driver is loaded or built in (/sys), or can be loaded (its module is installed)."""
    sys_root = sysfs.root(env)
    if os.path.exists(os.path.join(sys_root, "class/net/bonding_masters")) or os.path.isdir(
        os.path.join(sys_root, "module/bonding")
    ):
        return True
    release = os.uname().release
    for listing in ("modules.dep", "modules.builtin"):
        try:
            with open(f"/lib/modules/{release}/{listing}", "rb") as fh:
                if b"/bonding.ko" in fh.read():
                    return True
        except OSError:
            continue
    return False


def cmd_status(args: CmdArgs, log: Log) -> None:
    """Code 50 when this node cannot serve an ADD: no bonding driver, or no usable state directory."""
    conf = config.parse(args.stdin)
    if not bonding_available(args.env):
        raise CniError(
            errors.NOT_AVAILABLE, "the bonding driver is neither loaded nor installed on this node"
        )
    try:
        state.ensure_dir(args.settings.state_dir)
        if not os.access(args.settings.state_dir, os.W_OK):
            raise CniError(errors.STATE, f"state directory {args.settings.state_dir} is not writable")
    except CniError as exc:
        raise CniError(errors.NOT_AVAILABLE, f"the state directory cannot be used: {exc.msg}") from None
    if conf.ipam_type:
        ipam.run(conf.ipam_type, "STATUS", args.env, args.stdin, args.settings.ipam_timeout)


HANDLERS = {"ADD": cmd_add, "DEL": cmd_del, "CHECK": cmd_check, "GC": cmd_gc, "STATUS": cmd_status}
