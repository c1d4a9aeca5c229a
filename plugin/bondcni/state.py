"""The per-attachment state file: what ADD changed, so DEL (and GC) can put it back.

One JSON file per (CNI_CONTAINERID, CNI_IFNAME), written atomically (temp file, fsync, rename).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from typing import Iterator, Mapping, Optional, Tuple

from .errors import STATE, TRY_AGAIN_LATER, CniError

DEFAULT_DIR = "/var/lib/cni/bond"


def directory(configured: Optional[str], env: Mapping[str, str]) -> str:
    """The config's stateDir, else BONDCNI_STATE_DIR, else /var/lib/cni/bond."""
    return configured or env.get("BONDCNI_STATE_DIR") or DEFAULT_DIR


def path(dirname: str, container_id: str, ifname: str) -> str:
    # Both were validated by skel: no '/', no whitespace, not '.'/'..'.
    return os.path.join(dirname, f"{container_id}-{ifname}.json")


def write(filename: str, record: dict) -> None:
    dirname = os.path.dirname(filename)
    tmp = f"{filename}.tmp{os.getpid()}"
    try:
        os.makedirs(dirname, mode=0o700, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, filename)
        fd = os.open(dirname, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise CniError(STATE, f"failed to write state file {filename}: {exc.strerror}") from None


def read(filename: str) -> Optional[dict]:
    try:
        with open(filename, encoding="utf-8") as fh:
            record = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CniError(STATE, f"failed to read state file {filename}: {exc}") from None
    return record if isinstance(record, dict) else None


def remove(filename: str) -> None:
    try:
        os.unlink(filename)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise CniError(STATE, f"failed to remove state file {filename}: {exc.strerror}") from None


def records(dirname: str) -> Iterator[Tuple[str, dict]]:
    try:
        names = sorted(os.listdir(dirname))
    except OSError:
        return
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        filename = os.path.join(dirname, name)
        try:
            record = read(filename)
        except CniError:
            continue
        if record is not None:
            yield filename, record


@contextlib.contextmanager
def locked(dirname: str, timeout: float = 30.0) -> Iterator[None]:
    """Serialise ADD/DEL on one node (two attachments must not claim the same host link at once).

    An flock on <state dir>/.lock, released when the process ends however it ends; a lock not had within the
    deadline is CNI code 11 (try again later).
    """
    try:
        os.makedirs(dirname, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(dirname, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise CniError(STATE, f"failed to open the lock in {dirname}: {exc.strerror}") from None
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise CniError(TRY_AGAIN_LATER, f"another bond ADD/DEL holds {dirname}/.lock") from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)
