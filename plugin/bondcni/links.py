"""Which links to bond, from a network config: the `links` list (by name or PCI address) and the devices the
runtime handed to this pod (Multus: deviceID, pciBusID, runtimeConfig.deviceID)."""

from __future__ import annotations

from .errors import MISSING, config_error
from .fields import is_ifname, is_pci_address, json_field
from .recent_options import parse_link
from .record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs ~30 modules per exec
    from typing import Any, Mapping, Optional, Tuple


class Link(Record):
    """One slave: by interface name, or by PCI address (resolved through sysfs at ADD time)."""

    path: str  # where it came from, e.g. "links[1]" or "runtimeConfig.deviceID"
    name: Optional[str] = None
    pci: Optional[str] = None
    handed: bool = False  # the PCI device is one the runtime handed to this pod (deviceID, runtimeConfig)
    slave_options: Tuple[Tuple[str, int], ...] = ()  # (kernel name, value): prio, actor_port_prio

    def describe(self) -> str:
        return self.name if self.name is not None else f"PCI {self.pci}"


def _pci(value: Any, path: str) -> str:
    if not is_pci_address(value):
        raise config_error(path, 'a PCI address like "0000:03:02.0"', value)
    return value.lower()


def _handed_devices(obj: Mapping[str, Any]) -> list:
    """The devices the runtime handed to this pod: Multus puts the device plugin's device in the top-level
    deviceID/pciBusID and in runtimeConfig.deviceID (path, PCI address) pairs."""
    out = []
    runtime = json_field(obj, "runtimeConfig")
    if isinstance(runtime, dict):
        dev = json_field(runtime, "deviceID")
        if dev not in (MISSING, None, ""):
            out.append(("runtimeConfig.deviceID", _pci(dev, "runtimeConfig.deviceID")))
    for key in ("deviceID", "pciBusID"):
        dev = json_field(obj, key)
        if dev not in (MISSING, None, ""):
            out.append((key, _pci(dev, key)))
    return out


def parse_links(obj: Mapping[str, Any]) -> Tuple[Link, ...]:
    value = json_field(obj, "links")
    if value is MISSING or value is None:
        value = []
    if not isinstance(value, list):
        raise config_error("links", 'a list of objects like {"name": "net1"}', value)
    handed = _handed_devices(obj)
    handed_pci = {pci for _, pci in handed}
    links = []
    for i, item in enumerate(value):
        path = f"links[{i}]"
        if not isinstance(item, dict):
            raise config_error(
                path, 'an object like {"name": "net1"} or {"pciAddress": "0000:03:02.0"}', item
            )
        name = json_field(item, "name")
        pci = json_field(item, "pciAddress")
        if pci is MISSING:
            pci = json_field(item, "deviceID")
        if name is not MISSING:
            if not is_ifname(name):
                raise config_error(
                    path + ".name", "an interface name (1-15 chars, no '/', ':' or spaces)", name
                )
            slave = tuple(parse_link(item, path).items())
            links.append(Link(path=path, name=name, slave_options=slave))
        elif pci is not MISSING:
            pci = _pci(pci, path + ".pciAddress")
            slave = tuple(parse_link(item, path).items())
            links.append(Link(path=path, pci=pci, handed=pci in handed_pci, slave_options=slave))
        else:
            raise config_error(path, 'an object with "name" or "pciAddress"', item)
    for path, pci in handed:
        if all(lk.pci != pci for lk in links):
            links.append(Link(path=path, pci=pci, handed=True))
    if len(links) < 2:
        raise config_error("links", "at least 2 links to bond", [lk.describe() for lk in links])
    names = [lk.name for lk in links if lk.name is not None]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise config_error("links", "distinct link names", dup)
    return tuple(links)
