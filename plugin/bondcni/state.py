"""The per-attachment state file: what ADD changed, so DEL (and GC) can put it back.

One JSON file per (CNI_CONTAINERID, CNI_IFNAME), written atomically (temp file, fsync, rename).
"""

from __future__ import annotations

import json
import os
from typing import Iterator, Mapping, Optional, Tuple

from .errors import STATE, CniError

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
        if not name.endswith(".json"):
            continue
        filename = os.path.join(dirname, name)
        try:
            record = read(filename)
        except CniError:
            continue
        if record is not None:
            yield filename, record
