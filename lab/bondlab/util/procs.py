"""Host processes as /proc shows them: command lines and stat fields, for finding what the lab started
(engines, lab VMs) by what they were started with. A process that exits while being read is skipped."""

from __future__ import annotations

import os
from typing import Iterator, Optional


def pids() -> Iterator[int]:
    return (int(entry) for entry in os.listdir("/proc") if entry.isdigit())


def command_lines() -> Iterator[tuple]:
    """(pid, [arg, ...]) of every process that has a command line (kernel threads have none)."""
    for pid in pids():
        args = command_line(pid)
        if args:
            yield pid, args


def command_line(pid: int) -> list:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            raw = stream.read()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1] if raw else []


def stat_fields(pid: int) -> Optional[list]:
    """/proc/PID/stat after the command name: [state, ppid, pgrp, ...] (field 3 of proc(5) is index 0),
    or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    fields = stat_fields(pid)
    return bool(fields) and fields[0] != "Z"


def start_time(pid: int) -> Optional[str]:
    """When the process started (clock ticks since boot), or None: with the pid, it names one process even
    after the pid is reused."""
    fields = stat_fields(pid)
    return fields[19] if fields and len(fields) > 19 else None
