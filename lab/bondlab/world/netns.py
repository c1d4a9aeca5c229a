"""Throwaway network namespaces and the `ip`/`tc` commands run in them.

A namespace is named `bl-<role>-<random>` (the `bl-` prefix is the lab's mark on namespaces) and
is deleted, and waited for until gone, by the Undo stack that created it.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass

from bondlab.util import names
from bondlab.util.undo import Undo


class CommandError(Exception):
    pass


def run(args: list, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip()
        raise CommandError(f"`{' '.join(args)}` failed (exit {proc.returncode}): {said}")
    return proc


def list_netns() -> set:
    out = run(["ip", "-j", "netns", "list"]).stdout.strip()
    return {entry["name"] for entry in json.loads(out or "[]")}


@dataclass(frozen=True)
class Netns:
    name: str

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(["ip", "-n", self.name, *args], check=check)

    def ip_json(self, *args: str):
        return json.loads(self.ip("-j", *args).stdout or "null")

    def exec(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        return run(["ip", "netns", "exec", self.name, *args], check=check, timeout=timeout)

    def link(self, ifname: str) -> dict:
        return self.ip_json("-d", "link", "show", "dev", ifname)[0]


def create(undo: Undo, role: str, mark: str = "") -> Netns:
    """A fresh `bl-<role>-<random>` netns, deleted by `undo`; its `lo` up and carrying `mark` (the alias
    `clean` finds the lab's leftovers by) when one is given."""
    return create_many(undo, [role], mark)[0]


def create_many(undo: Undo, roles: list, mark: str = "") -> list:
    """A netns per role, as `create` makes one, added in one `ip -batch` and deleted by `undo` in one."""
    made = [Netns(names.unique(role)) for role in roles]
    undo.defer(delete, *[ns.name for ns in made])  # registered first: a half-made netns is still removed
    batch("", [f"netns add {ns.name}" for ns in made])
    for ns in made:
        batch(ns.name, ["link set lo up", *([f"link set lo alias {mark}"] if mark else [])])
    return made


def delete(*names_: str) -> None:
    # Deleting a netns drops its links (veth peers elsewhere go with them); a second delete is harmless.
    # `ip netns add/del` keep /run/netns/NAME: a stat, not an `ip netns list` process per netns.
    batch("", [f"netns del {name}" for name in names_ if os.path.exists(f"/run/netns/{name}")])


def batch(ns: str, lines: list, timeout: float = 300, tool: str = "ip") -> None:
    """Many `ip` commands in one process (`ip -n NS -batch -`, ns "": this netns); stops at the first
    failing line."""
    if not lines:
        return
    proc = subprocess.run(
        [tool, *(["-n", ns] if ns else []), "-batch", "-"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip()
        raise CommandError(f"`{tool} -n {ns or '(this netns)'} -batch` failed: {said}")


def tc_batch(ns: str, lines: list, timeout: float = 300) -> None:
    """Many `tc` commands in one process (`tc -n NS -batch -`)."""
    batch(ns, lines, timeout, tool="tc")
