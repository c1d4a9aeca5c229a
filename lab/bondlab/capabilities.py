"""What the running kernel can do for the lab, found by trying it in a throwaway netns.

Each feature gets a verdict with a reason for every "no" (the command that failed and what it said),
so a skip or an engine choice can always say why.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass, field

from bondlab.util import names

# What "the lab can run natively" means: without these nothing in the lab works.
REQUIRED = ("root", "netns", "veth", "bond")
OPTIONAL = ("netdevsim", "netem", "vlan", "flower")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True)
class Capabilities:
    kernel: str
    verdicts: dict = field(default_factory=dict)

    def has(self, feature: str) -> bool:
        return bool(self.verdicts.get(feature))

    def reason(self, feature: str) -> str:
        verdict = self.verdicts.get(feature)
        return verdict.reason if verdict is not None else f"{feature} was not probed"

    @property
    def native(self) -> Verdict:
        """Can the lab run on this kernel as it is?"""
        missing = [f"{f}: {self.reason(f)}" for f in REQUIRED if not self.has(f)]
        return Verdict(not missing, "; ".join(missing))


def _run(args: list[str]) -> Verdict:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return Verdict(False, f"{args[0]} is not installed")
    except subprocess.TimeoutExpired:
        return Verdict(False, f"`{' '.join(args)}` hung for 30 s")
    if proc.returncode == 0:
        return Verdict(True)
    said = (proc.stderr or proc.stdout).strip().splitlines()
    return Verdict(False, f"`{' '.join(args)}` failed: {said[-1] if said else f'exit {proc.returncode}'}")


def _probe_in(ns: str) -> dict:
    ip = ["ip", "-n", ns]
    verdicts = {}
    verdicts["veth"] = _run([*ip, "link", "add", "pa", "type", "veth", "peer", "name", "pb"])
    bond = _run([*ip, "link", "add", "pbond", "type", "bond", "mode", "active-backup", "miimon", "100"])
    if not bond and "Unknown device type" in bond.reason:
        bond = Verdict(False, "the kernel has no bonding driver (" + bond.reason + ")")
    verdicts["bond"] = bond
    if bond and verdicts["veth"]:
        enslave = _run([*ip, "link", "set", "pa", "master", "pbond"])
        if not enslave:
            verdicts["bond"] = Verdict(
                False, "a bond was created but a veth could not be enslaved: " + enslave.reason
            )
    verdicts["vlan"] = _run([*ip, "link", "add", "link", "pb", "name", "pb.10", "type", "vlan", "id", "10"])
    verdicts["netem"] = _run(["tc", "-n", ns, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"])
    _run(["tc", "-n", ns, "qdisc", "add", "dev", "lo", "clsact"])
    verdicts["flower"] = _run(
        [
            "tc",
            "-n",
            ns,
            "filter",
            "add",
            "dev",
            "lo",
            "ingress",
            "protocol",
            "ip",
            "flower",
            "action",
            "pass",
        ]
    )
    verdicts["netdevsim"] = _probe_netdevsim(ns)
    return verdicts


def _probe_netdevsim(ns: str) -> Verdict:
    if not os.path.isdir("/sys/bus/netdevsim"):
        return Verdict(False, "no /sys/bus/netdevsim: the kernel was built without CONFIG_NETDEVSIM")
    # A device id of our own, created from inside the throwaway netns (ports appear in the writer's netns).
    dev_id = 0x7000 + int.from_bytes(os.urandom(2), "big") % 0x0FFF
    made = _run(["ip", "netns", "exec", ns, "sh", "-c", f"echo '{dev_id} 1' > /sys/bus/netdevsim/new_device"])
    if made:
        _run(["sh", "-c", f"echo {dev_id} > /sys/bus/netdevsim/del_device"])
    return made


@functools.cache
def probe() -> Capabilities:
    """Probe the running kernel once per process."""
    kernel = os.uname().release
    verdicts: dict = {}
    if os.geteuid() != 0:
        verdicts["root"] = Verdict(
            False, "not running as root (network namespaces and links need CAP_NET_ADMIN)"
        )
        return Capabilities(kernel, verdicts)
    verdicts["root"] = Verdict(True)
    if shutil.which("ip") is None:
        verdicts["netns"] = Verdict(False, "iproute2 (`ip`) is not installed")
        return Capabilities(kernel, verdicts)
    ns = names.unique("probe")
    verdicts["netns"] = _run(["ip", "netns", "add", ns])
    if not verdicts["netns"]:
        return Capabilities(kernel, verdicts)
    try:
        verdicts.update(_probe_in(ns))
    finally:
        _run(["ip", "netns", "del", ns])
    return Capabilities(kernel, verdicts)
