"""DEL and GC: best-effort and idempotent teardown of an attachment (IPAM first, then the bond, then each
link), and GC of the attachments the runtime no longer lists."""

from __future__ import annotations

from . import fields, ipam, netlink, os, state
from .attachment import ATTACHMENT_WAIT, bond_mark, read_record, teardown
from .errors import CniError
from .record import Record
from .spec import SUPPORTED_VERSIONS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

    from .skel import CmdArgs, Log


class DelConf(Record):
    """What DEL needs of the config, read leniently: DEL must work even when the config no longer validates
    (so it is not validated: that is ADD's and CHECK's job, and the parser is ~10 modules per exec)."""

    cni_version: str
    ipam_type: str
    links_in_container: bool
    problem: Optional[CniError]  # why the config could not be decoded, if it could not


def parse_for_del(raw: bytes) -> DelConf:
    try:
        obj = fields.decode(raw)
    except CniError as exc:
        return DelConf("", "", False, exc)
    version = fields.json_field(obj, "cniVersion")
    ipam = fields.json_field(obj, "ipam")
    ipam_type = ""
    if isinstance(ipam, dict) and fields.is_plugin_name(ipam.get("type")) and ipam["type"] != "bond":
        ipam_type = ipam["type"]  # never a path from the config, even on DEL
    return DelConf(
        cni_version=version if isinstance(version, str) and version in SUPPORTED_VERSIONS else "",
        ipam_type=ipam_type,
        links_in_container=fields.json_field(obj, "linksInContainer") is True,
        problem=None,
    )


def cmd_del(args: CmdArgs, log: Log) -> None:
    """Best-effort and idempotent: IPAM first, then the bond, then each link (every one is tried; failures
    are reported at the end and the record keeps only what is left to do)."""
    dconf = parse_for_del(args.stdin)
    if dconf.problem is not None:
        log.warning(f"the config cannot be decoded ({dconf.problem.msg}); deleting what can be found")
    sdir = state.ensure_dir(args.settings.state_dir)
    lock = state.lock_or_go_on(
        state.attachment_lock(sdir, args.container_id, args.ifname), ATTACHMENT_WAIT, log
    )
    try:
        _del_locked(args, dconf, sdir, log)
    finally:
        lock.release(remove=True)


def _del_locked(args: CmdArgs, dconf: DelConf, sdir: str, log: Log) -> None:
    sfile = state.path(sdir, args.container_id, args.ifname)
    record = read_record(sfile, args, log)
    failures: List[CniError] = []
    ipam_type = dconf.ipam_type or (record or {}).get("ipam", "")
    if ipam_type:
        try:
            ipam.run(ipam_type, "DEL", args.env, args.stdin, args.settings.ipam_timeout)
        except CniError as exc:
            failures.append(exc)
    left = teardown(args.netns, args.ifname, args.container_id, dconf.links_in_container, record, sdir, log)
    if left:
        failures.append(left[0][1])
        state.write(sfile, dict(record or {}, slaves=[rec for rec, _ in left]))  # what a retry must finish
    else:
        state.remove(sfile)
    if failures:
        raise failures[0]
    if dconf.problem is not None:
        raise dconf.problem


def cmd_gc(args: CmdArgs, log: Log) -> None:
    """Tear down attachments of this network that the runtime no longer lists (CNI 1.1 GC), then forward GC
    to IPAM.  A record is matched by its attachment key; one whose bond is still alive in its netns is kept
    (a network name is the NAD writer's choice: GC of one tenant's network must not tear down another's)."""
    from . import config  # GC parses the whole config (DEL does not)

    conf = config.parse_obj(args.config, args.cni_version)
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
    if not (fields.is_name(container_id) and fields.is_ifname(ifname)):
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
        left = teardown(
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
