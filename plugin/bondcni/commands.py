"""ADD, DEL, CHECK, GC and STATUS.  Each reads top-down; ADD rolls back through an undo stack.

Module-level imports are the standard library and this package only; pyroute2 is loaded by netlink.Handle.
"""

from __future__ import annotations

import ipaddress
import os
import signal
from typing import Callable, List, Mapping, Optional

from . import config, errors, ipam, netlink, result, state, sysfs
from .config import BondConf, BondOptions
from .errors import CniError
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
        os.kill(os.getpid(), signal.SIGKILL)
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


def cmd_add(args: CmdArgs, log: Log) -> dict:
    conf = config.parse(args.stdin)
    log.path = log.path or conf.log_file
    sdir = state.directory(conf.state_dir, args.env)
    with state.locked(sdir):
        return _add_locked(conf, args, log, state.path(sdir, args.container_id, args.ifname))


def _add_locked(conf: BondConf, args: CmdArgs, log: Log, sfile: str) -> dict:
    if state.read(sfile) is not None:
        raise CniError(
            errors.LINK_PROBLEM,
            f"attachment {args.container_id}/{args.ifname} already exists (state file {sfile}): DEL it first",
        )
    ctx = Ctx(args.netns, log)
    undo = Undo(log)
    try:
        return _add(conf, args, ctx, undo, sfile, log)
    except BaseException:
        undo.rollback()
        raise
    finally:
        ctx.close()


def _add(conf: BondConf, args: CmdArgs, ctx: Ctx, undo: Undo, sfile: str, log: Log) -> dict:
    env, pod = args.env, ctx.pod
    assert pod is not None
    if pod.get(name=args.ifname) is not None:
        raise CniError(errors.LINK_PROBLEM, f'interface "{args.ifname}" already exists in netns {args.netns}')
    if conf.ipam_type:
        ipam.find(conf.ipam_type, env.get("CNI_PATH", ""))  # a missing IPAM plugin fails before any change
    slaves = _resolve_links(conf, ctx, env)
    _check_distinct_pf(conf, slaves, env, log)
    mtu = _bond_mtu(conf, slaves, env)
    fault("resolve-links", env)

    state.write(sfile, _state_record(conf, args, slaves))
    undo.push("remove state file", state.remove, sfile)
    fault("record-state", env)

    for rec in slaves:
        undo.push(f"put {rec['name']} back", restore_slave, ctx, rec, log)
        if rec["origin"] == "host":
            ctx.host.set_up(rec["index"], False, rec["name"])
            ctx.host.move(rec["index"], ctx.pod_fd, rec["name"])
    fault("move-links", env)

    bond = pod.create_bond(args.ifname, conf.options.configured(), mtu)
    undo.push(f"delete bond {args.ifname}", _delete_bond, pod, args.ifname, log)
    verify_options(pod, bond.index, conf.options, errors.NOT_APPLIED)
    fault("create-bond", env)

    _dedupe_macs(conf, pod, slaves, log)
    for rec in slaves:
        link = _must_get(pod, rec["name"], "pod")
        pod.set_up(link.index, False, link.name)  # the bonding driver refuses to enslave an up link
        pod.enslave(link.index, bond.index, link.name)
        pod.set_up(link.index, True, link.name)
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

    prev = result.normalize(dict(conf.prev_result), "prevResult") if conf.prev_result else None
    out = {
        "interfaces": list(prev["interfaces"]) if prev else [],
        "ips": list(prev["ips"]) if prev else [],
        "routes": list(prev["routes"]) if prev else [],
        "dns": dict(prev["dns"]) if prev else {},
    }
    bond_pos = len(out["interfaces"])
    if conf.ipam_type:
        what = f"release the address from IPAM plugin {conf.ipam_type}"
        undo.push(what, ipam.run, conf.ipam_type, "DEL", env, args.stdin, links=False)
        got = result.normalize(ipam.run(conf.ipam_type, "ADD", env, args.stdin), "IPAM result")
        fault("ipam", env)
        if not got["ips"]:
            raise CniError(errors.IPAM_RESULT, "IPAM plugin returned missing IP config")
        configure_addresses(pod, bond.index, args.ifname, got)
        fault("configure", env)
        out["ips"] = [dict(ip, interface=bond_pos) for ip in got["ips"]]
        out["routes"] = out["routes"] + got["routes"]
        out["dns"] = got["dns"] or out["dns"]
    out["dns"] = result.merge_dns(out["dns"], conf.dns)

    now = _must_get(pod, args.ifname, "pod")
    out["interfaces"].append(result.interface(now.name, now.mac, args.netns, now.mtu))
    for rec in slaves:
        link = _must_get(pod, rec["name"], "pod")
        out["interfaces"].append(result.interface(link.name, link.mac, args.netns, link.mtu, rec.get("pci")))
    fault("result", env)
    log.info(f"added bond {args.ifname} ({conf.mode}) over {[r['name'] for r in slaves]}")
    return result.convert(out, conf.cni_version)


def _must_get(handle: netlink.Handle, name: str, where: str) -> netlink.LinkInfo:
    info = handle.get(name=name)
    if info is None:
        raise CniError(errors.LINK_PROBLEM, f'link "{name}" disappeared from the {where} netns')
    return info


def _resolve_links(conf: BondConf, ctx: Ctx, env: Mapping[str, str]) -> List[dict]:
    """Find every configured link (by name or PCI address) and snapshot its original state."""
    origin = "container" if conf.links_in_container else "host"
    handle = ctx.pod if conf.links_in_container else ctx.host
    assert handle is not None
    out: List[dict] = []
    for link in conf.links:
        name = link.name
        if link.pci is not None:
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
        if origin == "host" and ctx.pod is not None and ctx.pod.get(name=name) is not None:
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
                "mtu": info.mtu,
                "up": info.up,
                "origin": origin,
                "pci": pci,
            }
        )
    return out


def _name_of_pci(
    pci: str, in_container: bool, handle: netlink.Handle, env: Mapping[str, str]
) -> Optional[str]:
    if not in_container:
        return sysfs.netdev_of_pci(pci, env)
    for link in handle.links():  # the pod's sysfs is not ours to read: ask each link's driver for its bus
        if handle.bus_info(link.name).lower() == pci:
            return link.name
    return None


def _check_distinct_pf(conf: BondConf, slaves: List[dict], env: Mapping[str, str], log: Log) -> None:
    by_pf: dict = {}
    for rec in slaves:
        pf = sysfs.pf_of(rec["pci"], env) if rec.get("pci") else None
        if pf:
            by_pf.setdefault(pf, []).append(rec["name"])
    for pf, names in by_pf.items():
        if len(names) < 2:
            continue
        msg = f"links {names} share the physical function {pf}: one PF failure takes the whole bond down"
        if conf.require_distinct_pf:
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
        "version": 1,
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
        iface = ipaddress.ip_interface(ip["address"])
        if iface.version == 6:
            try:
                pod.sysctl(f"net/ipv6/conf/{ifname}/disable_ipv6", "0")
            except OSError:
                pass
        pod.add_address(index, ip["address"])
        if ip.get("gateway"):
            gateways.setdefault(iface.version, ip["gateway"])
    for rt in got["routes"]:
        version = ipaddress.ip_network(rt["dst"], strict=False).version
        pod.add_route(index, rt["dst"], rt.get("gw") or gateways.get(version))


# ----------------------------------------------------------------------------------------------------------
# putting things back (rollback and DEL)


def _delete_bond(pod: netlink.Handle, ifname: str, log: Log) -> List[str]:
    """Release the bond's slaves and delete it; the names of the slaves it had."""
    bond = pod.get(name=ifname)
    if bond is None:
        return []
    if bond.kind != "bond":
        log.warning(f'"{ifname}" in the pod is a {bond.kind or "plain"} link, not a bond: leaving it alone')
        return []
    pod.set_up(bond.index, False, ifname)
    released = []
    for link in pod.links():
        if link.master == bond.index:
            pod.release(link.index, link.name)
            released.append(link.name)
    pod.delete(bond.index, ifname)
    return released


def restore_slave(ctx: Ctx, rec: dict, log: Log) -> None:
    """Put one link back where ADD found it, with its original name, MAC, MTU and admin state."""
    name = rec["name"]
    pod = ctx.pod if ctx.pod_fd is not None else None
    if rec.get("origin") == "host":
        here = pod.get(name=name) if pod is not None else None
        if here is not None:
            if here.master:
                pod.release(here.index, name)
            pod.set_up(here.index, False, name)
            pod.move(here.index, ctx.host_fd, name)
        handle: Optional[netlink.Handle] = ctx.host
        link = handle.get(name=name)
        if link is None and rec.get("index") and rec.get("mac"):
            # back from a netns that was destroyed, maybe renamed: the same ifindex and MAC is our link
            candidate = handle.get(index=rec["index"])
            if candidate is not None and rec["mac"].lower() in (
                candidate.mac.lower(),
                candidate.perm_mac.lower(),
            ):
                link = candidate
    else:
        handle = pod
        link = handle.get(name=name) if handle is not None else None
    if link is None or handle is None:
        log.info(f"link {name} is gone; nothing to put back")
        return
    if link.master:
        handle.release(link.index, name)
    want_mac, want_mtu = rec.get("mac"), rec.get("mtu")
    changes = {}
    if link.name != name:
        changes["ifname"] = name
    if want_mac and link.mac.lower() != want_mac.lower():
        changes["address"] = want_mac
    if want_mtu and link.mtu != want_mtu:
        changes["mtu"] = want_mtu
    if changes:
        handle.set_up(link.index, False, name)
        handle.set(link.index, f"restoring {name} ({', '.join(changes)})", **changes)
    if "up" in rec:
        handle.set_up(link.index, bool(rec["up"]), name)


# ----------------------------------------------------------------------------------------------------------
# DEL


def cmd_del(args: CmdArgs, log: Log) -> None:
    """Best-effort and idempotent: IPAM first, then the bond, then the links; a missing anything is fine."""
    dconf = config.parse_for_del(args.stdin)
    log.path = log.path or dconf.log_file
    if dconf.problem is not None:
        log.warning(f"the config does not validate ({dconf.problem.msg}); deleting what can be found")
    sdir = state.directory(dconf.state_dir, args.env)
    with state.locked(sdir):
        _del_locked(args, dconf, state.path(sdir, args.container_id, args.ifname), log)


def _del_locked(args: CmdArgs, dconf: config.DelConf, sfile: str, log: Log) -> None:
    try:
        record = state.read(sfile)
    except CniError as exc:
        log.warning(exc.msg)
        record = None
    failures: List[CniError] = []
    ipam_type = dconf.ipam_type or (record or {}).get("ipam", "")
    if ipam_type:
        try:
            ipam.run(ipam_type, "DEL", args.env, args.stdin)
        except CniError as exc:
            failures.append(exc)
    _teardown(args, dconf, record, log)
    state.remove(sfile)
    if failures:
        raise failures[0]
    if dconf.problem is not None and dconf.problem.code == errors.DECODE_FAILURE:
        raise dconf.problem


def _teardown(args: CmdArgs, dconf: config.DelConf, record: Optional[dict], log: Log) -> None:
    netns = args.netns
    if netns and not os.path.exists(netns):
        log.info(f"netns {netns} is gone")
        netns = ""
    try:
        ctx = Ctx(netns, log)
    except CniError as exc:  # there, but not a netns we can open: treat as gone
        log.warning(exc.msg)
        ctx = Ctx("", log)
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
                released = _delete_bond(pod, args.ifname, log)
        if record is not None:
            slaves = record.get("slaves") or []
        else:
            # No state (lost, or ADD failed before writing it): only the slaves our bond had are known to be
            # ours; the config says where they go.  Never move a link we did not bond.
            origin = "container" if dconf.links_in_container else "host"
            slaves = [{"name": n, "origin": origin} for n in released]
        for rec in slaves:
            if isinstance(rec, dict) and isinstance(rec.get("name"), str):
                restore_slave(ctx, rec, log)
    finally:
        ctx.close()


# ----------------------------------------------------------------------------------------------------------
# CHECK, GC, STATUS


def _check_failed(msg: str) -> CniError:
    return CniError(errors.CHECK_FAILED, msg)


def cmd_check(args: CmdArgs, log: Log) -> None:
    conf = config.parse(args.stdin)
    log.path = log.path or conf.log_file
    if conf.prev_result is None:
        raise CniError(
            errors.INVALID_CONFIG, "prevResult: expected the result of ADD (CHECK needs it), got nothing"
        )
    prev = result.normalize(dict(conf.prev_result), "prevResult")
    if conf.ipam_type:
        ipam.run(conf.ipam_type, "CHECK", args.env, args.stdin)
    sfile = state.path(state.directory(conf.state_dir, args.env), args.container_id, args.ifname)
    record = state.read(sfile)
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
    ifaces = prev["interfaces"]
    have = {str(ipaddress.ip_interface(a)) for a in pod.addresses(index)}
    for ip in prev["ips"]:
        pos = ip.get("interface")
        if isinstance(pos, int) and 0 <= pos < len(ifaces) and ifaces[pos].get("name") != ifname:
            continue
        want = str(ipaddress.ip_interface(ip["address"]))
        if want not in have:
            raise _check_failed(
                f'address {want} from prevResult is missing on "{ifname}" (has {sorted(have)})'
            )
    routes = pod.routes(index)
    got = {(str(ipaddress.ip_network(r["dst"], strict=False)), r.get("gw")) for r in routes}
    for rt in prev["routes"]:
        dst = str(ipaddress.ip_network(rt["dst"], strict=False))
        if not any(d == dst and (not rt.get("gw") or g == rt["gw"]) for d, g in got):
            raise _check_failed(f'route to {dst} from prevResult is missing on "{ifname}"')


def cmd_gc(args: CmdArgs, log: Log) -> None:
    """Drop the state of attachments of this network that the runtime no longer lists; forward to IPAM."""
    conf = config.parse(args.stdin)
    log.path = log.path or conf.log_file
    if conf.valid_attachments is None:
        log.warning("GC without cni.dev/valid-attachments: keeping all state")
    else:
        valid = set(conf.valid_attachments)
        sdir = state.directory(conf.state_dir, args.env)
        with state.locked(sdir):
            for filename, record in state.records(sdir):
                if record.get("network") != conf.name:
                    continue
                if (record.get("containerID"), record.get("ifname")) in valid:
                    continue
                log.info(f"GC: dropping stale state {filename}")
                state.remove(filename)
    if conf.ipam_type:
        ipam.run(conf.ipam_type, "GC", args.env, args.stdin)


def cmd_status(args: CmdArgs, log: Log) -> None:
    conf = config.parse(args.stdin)
    if conf.ipam_type:
        ipam.run(conf.ipam_type, "STATUS", args.env, args.stdin)


HANDLERS = {"ADD": cmd_add, "DEL": cmd_del, "CHECK": cmd_check, "GC": cmd_gc, "STATUS": cmd_status}
