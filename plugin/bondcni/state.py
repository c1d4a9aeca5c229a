"""The per-attachment state record: what ADD changed, so DEL (and GC) can put it back; and the locks.

The directory is the node's (settings.py), never a network config's: created 0700, refused when it is a
symlink, not root's or writable by others. One JSON file per attachment (CNI_CONTAINERID, CNI_IFNAME), written
atomically (an anonymous O_TMPFILE, fsync, then linked and renamed into place) and opened with O_NOFOLLOW; a
record read back is validated before anything acts on it.

Locks serialise only what must be: one attachment's ADD/DEL/GC (a lock file per attachment), and the short
moment a host link is claimed or given back (the node lock, never held across IPAM or pod work).
"""

from __future__ import annotations

import _stat as stat  # stat.py is `from _stat import *`: one file lookup less per exec
import fcntl
import time

from . import os
from .errors import STATE, TRY_AGAIN_LATER, CniError
from .jsonio import dumps, loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterator, Optional, Tuple

    from .skel import Log

VERSION = 2
SUFFIX = ".json"
TEMP_MARK = ".tmp."


def _state_error(what: str, exc: OSError) -> CniError:
    return CniError(STATE, f"{what}: {exc.strerror or exc}")


def ensure_dir(dirname: str) -> str:
    """Create the state directory (0700) or check the one that is there: a real directory, root's only."""
    try:
        os.makedirs(dirname, mode=0o700, exist_ok=True)
        st = os.lstat(dirname)
    except OSError as exc:
        raise _state_error(f"state directory {dirname}", exc) from None
    if not stat.S_ISDIR(st.st_mode):
        raise CniError(STATE, f"state directory {dirname} is not a directory (a symlink or a file)")
    if st.st_uid not in (0, os.geteuid()) or st.st_mode & 0o022:
        raise CniError(
            STATE,
            f"state directory {dirname} is owned by uid {st.st_uid} with mode {st.st_mode & 0o777:o}: "
            "it must be root's and writable only by root",
        )
    return dirname


def path(dirname: str, container_id: str, ifname: str) -> str:
    # Both were validated by skel: no '/', no whitespace, not '.'/'..'.
    return os.path.join(dirname, f"{container_id}-{ifname}{SUFFIX}")


def write(filename: str, record: dict) -> None:
    dirname = os.path.dirname(filename)
    data = dumps(record, sort_keys=True).encode("ascii")
    tmp_name = f".{os.path.basename(filename)}{TEMP_MARK}{os.getpid()}"
    tmp = os.path.join(dirname, tmp_name)
    dfd = -1
    try:
        dfd = os.open(dirname, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:  # anonymous until complete: a kill before the link leaves nothing behind
            fd = os.open(dirname, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600)
            named = False
        except (OSError, AttributeError):  # a file system without O_TMPFILE
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            named = True
        try:
            os.write(fd, data)
            os.fsync(fd)
            if not named:  # linkat(AT_SYMLINK_FOLLOW) of the magic link: dst_dir_fd makes os.link use linkat
                os.link(f"/proc/self/fd/{fd}", tmp_name, dst_dir_fd=dfd, follow_symlinks=True)
        finally:
            os.close(fd)
        os.replace(tmp, filename)
        os.fsync(dfd)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise _state_error(f"failed to write state file {filename}", exc) from None
    finally:
        if dfd >= 0:
            os.close(dfd)


def read(filename: str) -> Optional[dict]:
    """The record as stored (None: there is none); CniError 104 when it cannot be read or is not JSON."""
    try:
        fd = os.open(filename, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _state_error(f"failed to read state file {filename}", exc) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 1 << 20:
            raise CniError(STATE, f"state file {filename} is not a regular file of a sane size")
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError as exc:
        raise _state_error(f"failed to read state file {filename}", exc) from None
    finally:
        os.close(fd)
    try:
        record = loads(b"".join(chunks))
    except ValueError as exc:
        raise CniError(STATE, f"state file {filename} is not JSON: {exc}") from None
    return record if isinstance(record, dict) else None


def remove(filename: str) -> None:
    try:
        os.unlink(filename)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _state_error(f"failed to remove state file {filename}", exc) from None


def records(dirname: str) -> Iterator[Tuple[str, dict]]:
    """Every readable record in the directory (GC's listing); temp files of dead writers are swept."""
    try:
        names = sorted(os.listdir(dirname))
    except OSError:
        return
    for name in names:
        if TEMP_MARK in name:
            _sweep_temp(os.path.join(dirname, name))
            continue
        if not name.endswith(SUFFIX) or name.startswith("."):
            continue
        filename = os.path.join(dirname, name)
        try:
            record = read(filename)
        except CniError:
            continue
        if record is not None:
            yield filename, record


def _sweep_temp(filename: str) -> None:
    pid = filename.rpartition(TEMP_MARK)[2]
    if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
        try:
            os.unlink(filename)
        except OSError:
            pass


class Lock:
    """An exclusive flock on a lock file, held until release() or the process ends (however it ends).

    A lock file may be removed by its holder (remove=True when releasing): a waiter that got the lock on a
    file no longer in place tries again on the new one, so two holders never overlap.
    """

    def __init__(self, filename: str, what: str) -> None:
        self.filename = filename
        self.what = what
        self.fd: Optional[int] = None
        self.waited = 0.0

    def acquire(self, timeout: float) -> bool:
        """True once held; False when `timeout` seconds passed (the caller decides what that means)."""
        start = time.monotonic()
        pause = 0.002
        while True:
            try:
                fd = os.open(self.filename, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise _state_error(f"failed to open the lock {self.filename}", exc) from None
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() - start > timeout:
                        os.close(fd)
                        self.waited = time.monotonic() - start
                        return False
                    time.sleep(pause)
                    pause = min(pause * 2, 0.05)
            try:
                same = os.stat(self.filename).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                self.waited = time.monotonic() - start
                return True
            os.close(fd)  # its holder removed it while we waited: lock the file that is there now

    def acquire_or_fail(self, timeout: float) -> Lock:
        if not self.acquire(timeout):
            raise CniError(
                TRY_AGAIN_LATER, f"{self.what} is busy (lock {self.filename} held for {timeout:g} s)"
            )
        return self

    def release(self, remove: bool = False) -> None:
        if self.fd is None:
            return
        if remove:
            try:
                os.unlink(self.filename)
            except OSError:
                pass
        os.close(self.fd)
        self.fd = None


def attachment_lock(dirname: str, container_id: str, ifname: str) -> Lock:
    return Lock(
        os.path.join(dirname, f".{container_id}-{ifname}.lock"), f"attachment {container_id}/{ifname}"
    )


def node_lock(dirname: str) -> Lock:
    return Lock(os.path.join(dirname, ".lock"), "the node's host links")


def lock_or_go_on(lock: Lock, timeout: float, log: Log) -> Lock:
    """DEL's way: wait for the lock, but past the limit clean up anyway (a busy neighbour must not leave this
    attachment's bond, lease and links behind); the kernel's own operations stay atomic."""
    if not lock.acquire(timeout):
        log.warning(f"{lock.what}: lock not had within {timeout:g} s; going on without it")
    return lock


def _is_mac(value: object) -> bool:
    parts = value.split(":") if isinstance(value, str) else []
    return (len(parts) in (0, 6, 20) or value == "") and all(
        len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts if value
    )


def validate(record: dict, container_id: str, ifname: str, filename: str) -> dict:
    """A record is acted on only when it is one this plugin wrote for this attachment (CniError 104 else):
    its key matches, its IPAM name is a bare plugin name, every slave is a well-formed link description."""
    from .fields import is_ifname, is_pci_address, is_plugin_name

    def bad(why: str) -> CniError:
        return CniError(STATE, f"state file {filename}: {why}; not acted on")

    if record.get("version") not in (1, VERSION):
        raise bad(f"unknown version {record.get('version')!r}")
    if record.get("containerID") != container_id or record.get("ifname") != ifname:
        raise bad("it belongs to another attachment")
    ipam = record.get("ipam", "")
    if ipam != "" and not is_plugin_name(ipam):
        raise bad("its IPAM plugin is not a plain plugin name")
    slaves = record.get("slaves")
    if not isinstance(slaves, list) or len(slaves) > 64:
        raise bad("no list of slaves")
    for n, rec in enumerate(slaves):
        ok = (
            isinstance(rec, dict)
            and is_ifname(rec.get("name"))
            and isinstance(rec.get("index"), int)
            and not isinstance(rec.get("index"), bool)
            and rec["index"] > 0
            and (rec.get("pod_index") is None or (isinstance(rec["pod_index"], int) and rec["pod_index"] > 0))
            and rec.get("origin") in ("host", "container")
            and _is_mac(rec.get("mac", ""))
            and _is_mac(rec.get("perm_mac", ""))
            and isinstance(rec.get("mtu", 0), int)
            and isinstance(rec.get("up", False), bool)
            and (rec.get("pci") is None or is_pci_address(rec["pci"]))
        )
        if not ok:
            raise bad(f"slaves[{n}] is not a link this plugin recorded")
    return record
