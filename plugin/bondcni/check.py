"""CHECK (the attachment still is what ADD made: bond, options, slaves, addresses, routes) and STATUS (this
node can serve an ADD)."""

from __future__ import annotations

from . import config, errors, inet, ipam, netlink, os, state, sysfs
from .attachment import Ctx, read_record, verify_options, verify_slave_options
from .errors import CniError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping

    from .skel import CmdArgs, Log


def _check_failed(msg: str) -> CniError:
    return CniError(errors.CHECK_FAILED, msg)


def cmd_check(args: CmdArgs, log: Log) -> None:
    conf = config.parse_obj(args.config, args.cni_version)
    if conf.prev_result is None:
        raise CniError(
            errors.INVALID_CONFIG, "prevResult: expected the result of ADD (CHECK needs it), got nothing"
        )
    prev = dict(conf.prev_result)
    if conf.ipam_type:
        ipam.run(conf.ipam_type, "CHECK", args.env, args.stdin, args.settings.ipam_timeout)
    sfile = state.path(args.settings.state_dir, args.container_id, args.ifname)
    record = read_record(sfile, args, log)
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
        by_path = {lk.path: dict(lk.slave_options) for lk in conf.links}
        names = [(s["name"], s.get("path")) for s in (record or {}).get("slaves", [])] or [
            (lk.name, lk.path) for lk in conf.links if lk.name
        ]
        for name, path in names:
            link = pod.get(name=name)
            if link is None:
                raise _check_failed(f'slave "{name}" not found in netns {args.netns}')
            if link.master != bond.index:
                raise _check_failed(f'slave "{name}" is not enslaved to "{args.ifname}"')
            if not link.up:
                raise _check_failed(f'slave "{name}" is down')
            verify_slave_options(pod, link.index, name, by_path.get(path, {}), errors.CHECK_FAILED)
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
    conf = config.parse_obj(args.config, args.cni_version)
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
