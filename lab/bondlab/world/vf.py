"""Fake SR-IOV PFs and VFs behind one interface, chosen per PF (the selftests' port-role idea): a scenario
asks for "VF 1 of ens1f0" and never cares which backend made it.

Pairing of control plane and data plane, and why:
- The *data plane* of every VF, in both backends, is a veth pair: the VF netdev in the node netns (what
  SR-IOV CNI moves into the pod and the bond enslaves) and a port on the PF's switch (switch.py).
  netdevsim cannot be the data plane: its VFs are not netdevs at all (legacy mode: entries in
  vfconfigs[]; switchdev representors cannot be peered and drop what they send), and netdevsim ports
  have no get_link_ksettings, so bonding holds them down in 802.3ad/tlb/alb ("failed to get link
  speed/duplex") - seed 002's 802.3ad pod would never come up. veth reports 10000 Mb/s full duplex.
- The *control plane* differs:
  - `veth`: there is no PF to configure through; the lab applies the VF settings itself and keeps
    them in the lab's state directory.
  - `netdevsim`: the PF is a netdevsim device with `sriov_numvfs` VFs, in the node netns, and VF
    settings go through it exactly as SR-IOV CNI sends them (`ip link set PF vf N mac/vlan/spoofchk/
    trust/state`); the kernel stores them and `ip link show PF` reports them. `enforce()` then reads
    them back from the PF and applies them to the data plane (switch.py), so a scenario that changes a
    VF through the PF by hand only has to call `enforce()`.
Fake PCI addresses (`0000:BB:DD.F`) name every VF so Multus-style deviceIDs can be handed out.
"""

from __future__ import annotations

import json
import os
import secrets

from bondlab.util.wait import until
from bondlab.world import switch
from bondlab.world.netns import Netns, batch, tc_batch
from bondlab.world.records import Pf, Vf

NSIM_BUS = "/sys/bus/netdevsim"
NSIM_DEBUG = "/sys/kernel/debug/netdevsim"


def vf_netdev(pf: str, index: int) -> str:
    suffix = f"v{index}"
    return pf[: 15 - len(suffix)] + suffix


def create_pf(state, nodens: Netns, fabric: Netns, node: str, pf, prefix: str) -> Pf:
    """Make one PF with its switch and VFs; every creation is logged for undo first. Returns its record."""
    sw = switch.PfSwitch(prefix)
    switch.create_pf_switch(fabric, sw, state.mark, state.switch(pf.switch).bridge)
    nsim = None
    if pf.backend == "netdevsim":
        nsim = _netdevsim_pf(state, nodens, pf)
    else:
        batch(
            nodens.name,
            [
                f"link add name {pf.name} mtu {pf.mtu} type veth peer name {sw.pf_port} netns {fabric.name}",
                f"link set {pf.name} alias {state.mark}",
                f"link set {pf.name} up",
            ],
        )
        batch(fabric.name, switch.attach_lines([sw.pf_port], sw.bridge, state.mark))
    lines, vfs = [], []
    for index in range(pf.vfs):
        name, port = vf_netdev(pf.name, index), sw.vf_port(index)
        lines += [
            f"link add name {name} mtu {pf.mtu} type veth peer name {port} netns {fabric.name}",
            f"link set {name} alias {state.mark}",
        ]
        vfs.append(Vf(index, name, port, pf.pci(index)))
    batch(nodens.name, lines)
    batch(fabric.name, switch.attach_lines([v.port for v in vfs], sw.bridge, state.mark, vf=True))
    record = Pf(
        node=node,
        nodens=nodens.name,
        name=pf.name,
        backend=pf.backend,
        switch=sw.bridge,
        port=sw.pf_port,
        uplink=sw.uplink,
        resource=pf.resource,
        pci=pf.pci(),
        mtu=pf.mtu,
        nsim=nsim,
        vfs=tuple(vfs),
        cable_to=pf.switch,
    )
    listeners = cable_listeners(record)
    ingress = [line for port in listeners for line in switch.port_ingress_lines(port, sw.uplink)]
    tc_batch(fabric.name, ingress + switch.cable_fan_out_lines(sw, listeners))
    return record


def register(state, record: Pf) -> None:
    """One small file per VF, `pci/<PCI address>.json`, so the sriov plugin finds a VF by deviceID in O(1)
    instead of reading the whole lab's record on every ADD/DEL."""
    lab = {"id": state.id, "name": state.name}
    directory = os.path.join(state.dir, "pci")
    os.makedirs(directory, exist_ok=True)
    for entry in record.vfs:
        with open(os.path.join(directory, f"{entry.pci}.json"), "w") as stream:
            json.dump({"lab": lab, "pf": {**record.to_dict(), "vfs": [entry.to_dict()]}}, stream)


def lookup(lab_dir: str, pci: str):
    """(lab {id, name}, the PF's record with just this VF in `vfs`, the VF) for a PCI address."""
    try:
        with open(os.path.join(lab_dir, "pci", f"{os.path.basename(pci)}.json")) as stream:
            found = json.load(stream)
    except FileNotFoundError:
        return None
    pf = Pf.from_dict(found["pf"])
    return found["lab"], pf, pf.vfs[0]


def recreate_vf(state, record: Pf, index: int) -> None:
    """A veth VF dies with the pod netns it was in; a real VF returns to the host. Make it again."""
    vf = record.vf(index)
    fabric = state.netns_name("fabric")
    batch(
        record.nodens,
        [
            f"link add name {vf.netdev} mtu {record.mtu} type veth peer name {vf.port} netns {fabric}",
            f"link set {vf.netdev} alias {state.mark}",
        ],
    )
    batch(fabric, switch.attach_lines([vf.port], record.switch, state.mark, vf=True))
    sw = switch.PfSwitch(record.switch)
    switch.set_port_ingress(Netns(fabric), sw, vf.port)
    switch.rebind_fan_out(Netns(fabric), sw, vf.port)


def cable_listeners(record: Pf) -> list:
    """The ports behind a PF's cable that hear what comes in on it (switch.cable_fan_out_lines)."""
    return [v.port for v in record.vfs] + ([record.port] if record.backend == "veth" else [])


def _netdevsim_pf(state, nodens: Netns, pf) -> int:
    for _ in range(20):
        dev_id = 0x4000 + secrets.randbelow(0x3000)
        if not os.path.exists(f"{NSIM_BUS}/devices/netdevsim{dev_id}"):
            break
    # Logged before it exists: a half-made device is still removed.
    state.defer("nsim-del", id=dev_id)
    nodens.exec("sh", "-c", f"echo '{dev_id} 1' > {NSIM_BUS}/new_device")
    device = f"{NSIM_BUS}/devices/netdevsim{dev_id}"
    names = until(
        lambda: nodens.exec("ls", f"{device}/net", check=False).stdout.split(),
        5,
        f"netdevsim{dev_id} port netdev",
    )
    batch(
        nodens.name,
        [
            f"link set {names[0]} name {pf.name}",
            f"link set {pf.name} alias {state.mark}",
            f"link set {pf.name} mtu {pf.mtu} up",
        ],
    )
    if pf.vfs:
        max_vfs = f"{NSIM_DEBUG}/netdevsim{dev_id}/max_vfs"
        if pf.vfs > 4:
            if not os.path.exists(max_vfs):
                raise RuntimeError(f"PF {pf.name}: {pf.vfs} VFs need debugfs ({max_vfs}); netdevsim allows 4")
            with open(max_vfs, "w") as stream:
                stream.write(str(pf.vfs))
        with open(f"{device}/sriov_numvfs", "w") as stream:
            stream.write(str(pf.vfs))
    return dev_id


def delete_nsim(dev_id: int) -> None:
    if os.path.exists(f"{NSIM_BUS}/devices/netdevsim{dev_id}"):
        with open(f"{NSIM_BUS}/del_device", "w") as stream:
            stream.write(str(dev_id))


# -- VF settings: control plane, then data plane ------------------------------------------------------
KNOBS = ("mac", "vlan", "spoofchk", "trust", "link_state", "max_tx_rate", "min_tx_rate")
DEFAULTS = {
    "mac": None,
    "vlan": 0,
    "spoofchk": False,
    "trust": False,
    "link_state": "auto",
    "max_tx_rate": 0,
    "min_tx_rate": 0,
}
LINK_MBPS = 10000  # a VF's link speed: what its veth reports (ethtool), so what a rate may not exceed


def _conf_path(state, record: Pf, index: int) -> str:
    return os.path.join(state.dir, "vf", f"{record.node}-{record.name}-{index}.json")


def _reported(vf: dict) -> dict:
    """One VF's settings from the PF's `ip -j link show` (vfinfo_list entry)."""
    vlans = vf.get("vlan_list") or [{}]
    return {
        "mac": vf.get("address"),
        "vlan": vlans[0].get("vlan", 0),
        "spoofchk": bool(vf.get("spoofchk")),
        "trust": bool(vf.get("trust")),
        "link_state": vf.get("link_state", "auto"),
        "max_tx_rate": (vf.get("rate") or {}).get("max_tx", 0),
        "min_tx_rate": (vf.get("rate") or {}).get("min_tx", 0),
    }


def _kept(state, record: Pf, index: int) -> dict:
    try:
        with open(_conf_path(state, record, index)) as stream:
            return {**DEFAULTS, **json.load(stream)}  # a file written before rates has none
    except FileNotFoundError:
        return dict(DEFAULTS)


def vf_configs(state, record: Pf) -> dict:
    """Every VF's settings by index, reading a netdevsim PF once (`inspect` shows them all)."""
    if record.backend == "netdevsim":
        link = Netns(record.nodens).ip_json("link", "show", "dev", record.name)[0]
        return {vf["vf"]: _reported(vf) for vf in link.get("vfinfo_list", [])}
    return {entry.index: _kept(state, record, entry.index) for entry in record.vfs}


def vf_config(state, record: Pf, index: int) -> dict:
    """The VF's settings as its PF reports them (netdevsim) or as the lab keeps them (veth)."""
    if record.backend != "netdevsim":
        return _kept(state, record, index)
    found = vf_configs(state, record).get(index)
    if found is None:
        raise RuntimeError(f"PF {record.name} reports no VF {index}")
    return found


def configure_vf(state, record: Pf, index: int, settings: dict, before=None) -> dict:
    """Set some of KNOBS on a VF through its PF (rates in Mbps, 0: none), then enforce them.

    `before`: the VF's settings as the caller already read them; then only what changed is applied to the
    data plane (each `ip`/`tc` is a process start, 30-300 ms in the lab VM)."""
    settings = {k: v for k, v in settings.items() if k in KNOBS and v is not None}
    if before is not None and all(before.get(k) == v for k, v in settings.items()):
        return before  # nothing to change (e.g. spoofchk off on a VF that has it off)
    if record.backend == "netdevsim":
        argv = ["link", "set", "dev", record.name, "vf", str(index)]
        for key, value in settings.items():
            word = {"link_state": "state"}.get(key, key)
            argv += [word, ("on" if value else "off") if isinstance(value, bool) else str(value)]
        if settings:
            Netns(record.nodens).ip(*argv)
        config = vf_config(state, record, index)
    else:
        config = {**(before if before is not None else vf_config(state, record, index)), **settings}
        os.makedirs(os.path.dirname(_conf_path(state, record, index)), exist_ok=True)
        with open(_conf_path(state, record, index), "w") as stream:
            json.dump(config, stream)
    enforce(state, record, index, config, before)
    return config


def enforce(state, record: Pf, index: int, config=None, before=None) -> None:
    """Apply a VF's settings to its data plane: admin MAC on the VF netdev (if it is still on the node),
    carrier from link-state and the PF's cable, VLAN, spoofchk and max_tx_rate at the switch port. With
    `before` (the settings the data plane already has), only what differs. min_tx_rate is recorded, not
    enforced: a guarantee needs a scheduler over every VF of the PF, which no scenario asks for yet."""
    config = config or vf_config(state, record, index)
    old = {**DEFAULTS, **(before or {})}  # settings recorded before rates existed have none

    def changed(*keys: str) -> bool:
        return before is None or any(config.get(k) != old.get(k) for k in keys)

    vf = record.vf(index)
    fabric = Netns(state.netns_name("fabric"))
    sw = switch.PfSwitch(record.switch)
    mac = config.get("mac")
    if mac and mac != "00:00:00:00:00:00" and changed("mac"):
        Netns(record.nodens).ip("link", "set", "dev", vf.netdev, "address", mac, check=False)
    if changed("link_state"):
        switch.apply_link_state(fabric, sw, index, config.get("link_state") or "auto")
    if changed("vlan") and (before is not None or config.get("vlan")):
        switch.apply_vlan(fabric, sw, index, int(config.get("vlan") or 0))
    rate = int(config.get("max_tx_rate") or 0)
    shape = changed("max_tx_rate") and (before is not None or rate)
    if shape and rate:  # the shaper first: the port's redirect needs it to exist
        switch.set_tx_rate(fabric, vf.port, rate, state.mark)
    if changed("spoofchk", "mac", "max_tx_rate"):
        spoofchk_mac = ""
        if config.get("spoofchk"):
            spoofchk_mac = mac
            if not mac or mac == "00:00:00:00:00:00":
                spoofchk_mac = Netns(record.nodens).ip_json("link", "show", "dev", vf.netdev)[0]["address"]
        shaper = switch.shaper_name(vf.port) if rate else ""
        switch.set_port_ingress(fabric, sw, vf.port, spoofchk_mac, shaper)
    if shape and not rate:  # after the port stopped redirecting to it
        switch.set_tx_rate(fabric, vf.port, 0, state.mark)
