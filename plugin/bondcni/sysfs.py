"""PCI address <-> netdev resolution through sysfs (the plugin's own netns view), as sriov-cni does it.

BONDCNI_SYSFS_ROOT (test-only) points the lookups at a fake sysfs tree.
"""

from __future__ import annotations

from . import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping, Optional


def root(env: Mapping[str, str]) -> str:
    return env.get("BONDCNI_SYSFS_ROOT") or "/sys"


def netdev_of_pci(pci: str, env: Mapping[str, str]) -> Optional[str]:
    """The netdev name of a PCI function in this netns (/sys/bus/pci/devices/<pci>/net/<name>), or None."""
    try:
        names = sorted(os.listdir(os.path.join(root(env), "bus/pci/devices", pci, "net")))
    except OSError:
        return None
    return names[0] if names else None


def pci_of_netdev(name: str, env: Mapping[str, str]) -> Optional[str]:
    """The PCI address behind a netdev (/sys/class/net/<name>/device), or None for virtual links."""
    try:
        target = os.readlink(os.path.join(root(env), "class/net", name, "device"))
    except OSError:
        return None
    return os.path.basename(target)


def pf_of(pci: str, env: Mapping[str, str]) -> Optional[str]:
    """The PF owning a VF (/sys/bus/pci/devices/<vf>/physfn), or the function itself if it is not a VF."""
    base = os.path.join(root(env), "bus/pci/devices", pci)
    try:
        return os.path.basename(os.readlink(os.path.join(base, "physfn")))
    except OSError:
        return pci if os.path.exists(base) else None


def pf_mtu(pci: str, env: Mapping[str, str]) -> Optional[int]:
    """The MTU of the PF netdev owning a VF, when the PF is visible in this netns."""
    base = os.path.join(root(env), "bus/pci/devices", pci, "physfn", "net")
    try:
        for name in os.listdir(base):
            with open(os.path.join(base, name, "mtu"), encoding="ascii") as fh:
                return int(fh.read().strip())
    except (OSError, ValueError):
        return None
    return None


def has_device(name: str, env: Mapping[str, str]) -> bool:
    """Whether a netdev is backed by a device (PCI, netdevsim, ...): /sys/class/net/<name>/device exists."""
    return os.path.exists(os.path.join(root(env), "class/net", name, "device"))
