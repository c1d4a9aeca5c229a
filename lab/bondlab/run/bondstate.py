"""A pod's bond as the kernel sees it now (active slave, carrier, MII and carrier per slave), read over the
netlink sockets of run.reader, and the changes between two readings: what the action verbs print after
acting and what `bondlab watch` streams."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bondlab.run.reader import READER
from bondlab.world.records import Pod


@dataclass(frozen=True)
class BondState:
    pod: str
    bond: str
    active: str  # "-" when none
    carrier: bool
    slaves: tuple  # ((name, mii, carrier), ...) in the order ADD enslaved them

    def line(self) -> str:
        slaves = " ".join(f"{name}:mii={mii},carrier={_updown(up)}" for name, mii, up in self.slaves)
        return f"{self.pod} {self.bond}: active {self.active}, carrier {_updown(self.carrier)}; {slaves}"

    def changes(self, before: BondState) -> list:
        """What differs from `before`, one phrase each (`active net1 -> net2`, `net1 mii UP -> DOWN`)."""
        said = []
        if before.active != self.active:
            said.append(f"active {before.active} -> {self.active}")
        if before.carrier != self.carrier:
            said.append(f"{self.bond} carrier {_updown(before.carrier)} -> {_updown(self.carrier)}")
        old = {name: (mii, up) for name, mii, up in before.slaves}
        for name, mii, up in self.slaves:
            was_mii, was_up = old.get(name, ("gone", None))
            if was_mii != mii:
                said.append(f"{name} mii {was_mii} -> {mii}")
            if was_up is not None and was_up != up:
                said.append(f"{name} carrier {_updown(was_up)} -> {_updown(up)}")
        return said


def _updown(up) -> str:
    return "up" if up else "down"


def read(pod: Pod) -> BondState:
    bond = READER.link(pod.netns, pod.bond)
    slaves = []
    for name in pod.slaves:
        link = READER.link(pod.netns, name)
        slaves.append((name, link.get("mii_status", "gone") if link else "gone", bool(link.get("carrier"))))
    return BondState(
        pod.key, pod.bond, bond.get("active_slave") or "-", bool(bond.get("carrier")), tuple(slaves)
    )


def settle(pods: list, before: dict, timeout: float, quiet: float = 0.3, interval: float = 0.02) -> dict:
    """Poll the pods' bonds until they differ from `before` (pod key -> BondState) and then stay the same
    for `quiet` seconds, or until `timeout`; the last reading."""
    began = time.monotonic()
    now = {pod.key: read(pod) for pod in pods}
    changed = began if now != before else None  # when the reading last changed
    while time.monotonic() - began < timeout:
        if changed is not None and time.monotonic() - changed >= quiet:
            break
        time.sleep(interval)
        later = {pod.key: read(pod) for pod in pods}
        if later != now:
            changed = time.monotonic()
        now = later
    return now


def stamp(ns: int) -> str:
    """A wall-clock timestamp with milliseconds, as `watch` prints it."""
    return time.strftime("%H:%M:%S", time.localtime(ns / 1e9)) + f".{ns // 1_000_000 % 1000:03d}"
