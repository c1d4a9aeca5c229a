"""ADD: resolve the links, record them, move them, make the bond, enslave, delegate IPs to IPAM, configure;
reads top-down, and every step pushes its undo first (attachment.Undo) so that a failure leaves the node as
it was."""

from __future__ import annotations

from . import config, errors, host_policy, inet, ipam, netlink, os, result, state, sysfs
from .attachment import (
    ATTACHMENT_WAIT,
    NODE_WAIT,
    Ctx,
    Undo,
    bond_mark,
    delete_bond,
    restore_slave,
    verify_options,
    verify_slave_options,
)
from .errors import CniError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Mapping, Optional

    from .config import BondConf
    from .links import Link
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


def cmd_add(args: CmdArgs, log: Log) -> dict:
    conf = config.parse_obj(args.config, args.cni_version)
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
    undo.push(f"delete bond {args.ifname}", delete_bond, pod, args.ifname, None, log)
    bond = _newer_explained(conf, pod.create_bond, args.ifname, conf.options.configured(), mtu)
    pod.set_alias(bond.index, bond_mark(args.container_id))
    verify_options(pod, bond.index, conf.options, errors.NOT_APPLIED)
    fault("create-bond", env)

    _dedupe_macs(conf, pod, slaves, log)
    for link, rec in zip(conf.links, slaves):
        index = rec.get("pod_index", rec["index"])  # where the link is in the pod now
        pod.set_up(index, False, rec["name"])  # the bonding driver refuses to enslave an up link...
        pod.enslave(index, bond.index, rec["name"])  # ...and opens it itself
        if link.slave_options:
            wanted = dict(link.slave_options)
            _newer_explained(conf, pod.set_bond_slave_options, index, wanted, rec["name"])
            verify_slave_options(pod, index, rec["name"], wanted, errors.NOT_APPLIED)
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


def _newer_explained(conf: BondConf, change, *argv):
    """Run a netlink change; a refusal is explained (code 101 naming the option and the release that has
    it) when the config asks for an option newer than this node's kernel."""
    try:
        return change(*argv)
    except CniError as exc:
        if exc.code != errors.KERNEL_REFUSED:
            raise
        from .recent_options import newest_missing

        newer = newest_missing(conf.options.configured(), conf.links)
        if newer is None:
            raise
        raise CniError(newer.code, f"{newer.msg} (the kernel: {exc.msg})") from None


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


def _check_pci_handed(link: Link, node: Settings) -> None:
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
