"""Exec a plugin binary as a container runtime does (config on stdin, CNI_* environment, in the node's
netns) and keep everything it answered: exit code, stdout, stderr, its JSON, how long it took."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from typing import Optional

from bondlab.cni import libcni


@dataclass(frozen=True)
class Call:
    command: str
    rc: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def json(self):
        try:
            return json.loads(self.stdout) if self.stdout.strip() else None
        except ValueError:
            return None

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def __str__(self) -> str:
        said = self.stdout.strip() or self.stderr.strip()[-300:]
        return f"{self.command} exit {self.rc}: {said[:400]!r}"


def call(
    path: str,
    command: str,
    config,
    rt: libcni.Runtime,
    unset: tuple = (),
    env: Optional[dict] = None,
) -> Call:
    """One exec of `path`: `config` (a dict, or bytes sent as they are) on stdin, the runtime's environment
    for `rt` with the variables in `unset` left out and `env` laid over it."""
    full = {**libcni.cni_env(command, rt), **(env or {})}
    for name in unset:
        full.pop(name, None)
    stdin = config if isinstance(config, bytes) else json.dumps(config).encode()
    started = time.monotonic()
    try:
        proc = libcni.spawn(path, stdin, full, rt.host_netns, rt.timeout)
    except subprocess.TimeoutExpired:
        return Call(command, -9, "", f"killed after {rt.timeout:g} s", time.monotonic() - started)
    return Call(
        command,
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
        time.monotonic() - started,
    )
