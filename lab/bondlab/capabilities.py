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
# Set in a guest by what started it (`bondlab run --kernel NAME`): the name of the kernel the run is on.
KERNEL_NAME_ENV = "BONDLAB_KERNEL_NAME"
# Bonding options by the kernel's names (bond_options.c: what /sys/class/net/BOND/bonding/ lists, for the
# options that have a file there); a slave's as "slave:NAME". Options since 5.17 are netlink-only (6.12 has
# no sysfs file for ns_ip6_target, coupled_control, a slave's prio), so the probe asks netlink too.
SLAVE = "slave:"
# The kernel's name of an option the plugin's netlink codec (bondcni.rtnl.BOND_ATTRS) names otherwise.
NETLINK_NAMES = {
    "missed_max": "arp_missed_max",
    "ad_lacp_active": "lacp_active",
    "ad_lacp_rate": "lacp_rate",
    "num_peer_notif": "num_grat_arp",
    "broadcast_neigh": "broadcast_neighbor",
}


def kernel_label() -> str:
    """The running kernel as reports name it: "debian-6.1 (6.1.0-57-amd64)" under a named kernel, else
    the release ("6.12.118")."""
    release = os.uname().release
    name = os.environ.get(KERNEL_NAME_ENV, "")
    return f"{name} ({release})" if name else release


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
    bonding_options: frozenset = frozenset()  # what a probe bond offered (see SLAVE), when "bond" is ok

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

    def bonding_option(self, option: str) -> Verdict:
        """Whether the bonding driver has this option (SLAVE-prefixed: a slave's); a "no" says where we
        looked."""
        if not self.has("bond"):
            return Verdict(False, f"kernel {self.kernel} cannot bond: {self.reason('bond')}")
        if option in self.bonding_options:
            return Verdict(True)
        name = option.removeprefix(SLAVE)
        looked = f"/sys/class/net/*/{'bonding_slave' if option.startswith(SLAVE) else 'bonding'}/{name}"
        return Verdict(False, f"kernel {self.kernel} has no {looked} nor a netlink attribute for it")


def _run(args: list[str]) -> Verdict:
    return _output(args)[0]


def _output(args: list[str]) -> tuple:
    """(Verdict, stdout) of a command."""
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return Verdict(False, f"{args[0]} is not installed"), ""
    except subprocess.TimeoutExpired:
        return Verdict(False, f"`{' '.join(args)}` hung for 30 s"), ""
    if proc.returncode == 0:
        return Verdict(True), proc.stdout
    said = (proc.stderr or proc.stdout).strip().splitlines()
    return Verdict(False, f"`{' '.join(args)}` failed: {said[-1] if said else f'exit {proc.returncode}'}"), ""


def _bonding_options(ns: str) -> frozenset:
    """The options of the probe bond pbond and its slave pa (see SLAVE): the sysfs files, read from inside
    the netns (`ip netns exec` mounts a sysfs of its own: ours shows the root netns's devices only), and
    the attributes the kernel reports over netlink, read with the plugin's own codec (bondcni.netlink)."""
    from bondcni import netlink
    from bondcni.errors import CniError

    listing = "ls /sys/class/net/pbond/bonding; echo --; ls /sys/class/net/pa/bonding_slave"
    _, out = _output(["ip", "netns", "exec", ns, "sh", "-c", listing])
    bond, _, slave = out.partition("--")
    options = set(bond.split()) | {SLAVE + name for name in slave.split()}
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with netlink.Handle(fd, ns) as handle:
            bond, slave = (handle.get(name=name) for name in ("pbond", "pa"))
            try:  # reported only once set; a kernel older than 5.17 drops the attribute
                handle.set_bond_option(bond.index, "ns_ip6_target", ["fd00::1"])
            except CniError:
                pass
            reported = handle.bond_options(bond.index)
            options |= {NETLINK_NAMES.get(name, name) for name in reported if name != "ad_info"}
            options |= {SLAVE + name for name in handle.bond_slave_options(slave.index)}
    except (OSError, CniError):  # then sysfs is all we know (both links were just made: get() finds them)
        pass
    finally:
        os.close(fd)
    return frozenset(options)


def _probe_in(ns: str) -> tuple:
    """(verdicts, bonding options) of the running kernel, tried in the throwaway netns `ns`."""
    ip = ["ip", "-n", ns]
    verdicts = {}
    options: frozenset = frozenset()
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
        else:
            options = _bonding_options(ns)
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
    return verdicts, options


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
        found, options = _probe_in(ns)
        verdicts.update(found)
    finally:
        _run(["ip", "netns", "del", ns])
    return Capabilities(kernel, verdicts, options)
