"""Checks on a deployed lab, read from the kernel: connectivity from pods to an address inside the lab."""

from __future__ import annotations

from bondlab.world.labstate import LabState
from bondlab.world.netns import Netns


def ping_from_pods(state: LabState, address: str, count: int = 1, timeout: int = 2) -> list:
    """Ping `address` (inside the lab) from every pod; return the pods that got no answer."""
    failed = []
    for pod in state.pods:
        proc = Netns(pod.netns).exec(
            "ping", "-c", str(count), "-W", str(timeout), "-q", address, check=False, timeout=30
        )
        if proc.returncode != 0:
            failed.append(pod.key)
    return failed
