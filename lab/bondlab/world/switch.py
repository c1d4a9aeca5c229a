"""The switches: one Linux bridge behind every PF (the NIC's embedded switch), its cable landing on a fabric
switch (`core`, or a ToR cabled on to `core`), all in the lab's fabric netns.

    node netns                fabric netns
    ens1f0v0 ====veth==== n0p1v0 -+
    ens1f0v1 ====veth==== n0p1v1 -+- [bridge n0p1] -- n0p1up ==veth== n0p1cu -- [bridge sw1 (tor-a)] -- sl1a
    ens1f0   ====veth==== n0p1pf -+        (the PF's cable is the uplink pair)                          ‖ veth
                                                                              peers -- [bridge core] -- sl1b

The data plane of a VF is its switch port, so what SR-IOV CNI asks of a VF through its PF is enforced
here, identically for every backend:
- link-state disable: the port goes admin-down, so the VF (its veth peer) loses carrier;
- link-state enable: the port stays up even when the PF's cable is cut (carrier forced up);
- link-state auto (default): the port follows the PF's cable;
- spoofchk on: tc on the port's ingress passes frames whose source MAC is the VF's MAC, drops the rest;
- vlan V: the port's PVID is V, egress untagged (the bridge is VLAN-aware; trunks carry V tagged);
- max_tx_rate M: what the VF sends is shaped to M Mbps (see set_tx_rate).
- slow protocols (LACP): past the bridge, out the PF's cable and back to every VF (see "slow protocols").

A PF's bridge forwards like an SR-IOV NIC's embedded switch (VEB), not like a learning switch: it learns
no MAC from the wire (uplink `learning off`), so a bond MAC that comes back through the core - broadcast
mode sends every frame on both PFs - does not move to the uplink and black-hole the replies; and it
floods no unknown unicast to VFs (VF ports `flood off`), so one pod's traffic is not copied to every VF.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bondlab.model import topology
from bondlab.world import lacpdu
from bondlab.world.netns import Netns, batch, run, tc_batch

CORE = topology.CORE  # the fabric switch that is always there (the spine of a derived cluster)


@dataclass(frozen=True)
class PfSwitch:
    """Names of one PF's switch pieces in the fabric netns (prefix `n<node>p<pf>`, within IFNAMSIZ)."""

    prefix: str

    @property
    def bridge(self) -> str:
        return self.prefix

    @property
    def uplink(self) -> str:
        return f"{self.prefix}up"

    @property
    def core_port(self) -> str:
        return f"{self.prefix}cu"

    @property
    def pf_port(self) -> str:
        return f"{self.prefix}pf"

    def vf_port(self, index: int) -> str:
        return f"{self.prefix}v{index}"


def create_fabric_switch(fabric: Netns, bridge: str, mark: str) -> None:
    """A fabric switch (`core`, a ToR, a spine): a learning bridge, as a ToR learns the MACs behind it."""
    batch(
        fabric.name,
        [
            f"link add name {bridge} type bridge forward_delay 0",
            f"link set {bridge} alias {mark}",
            f"link set {bridge} up",
        ],
    )


def link_switches(fabric: Netns, bridge: str, port: str, far_bridge: str, far_port: str, mark: str) -> None:
    """A cable between two fabric switches (a ToR's uplink to the spine): a veth pair, one end on each."""
    batch(
        fabric.name,
        [
            f"link add name {port} type veth peer name {far_port}",
            *attach_lines([port], bridge, mark),
            *attach_lines([far_port], far_bridge, mark),
        ],
    )


def create_pf_switch(fabric: Netns, sw: PfSwitch, mark: str, cable_to: str = CORE) -> None:
    """The PF's bridge and its cable (uplink veth pair to the fabric switch's bridge `cable_to`)."""
    batch(
        fabric.name,
        [
            f"link add name {sw.bridge} type bridge forward_delay 0",
            f"link add name {sw.uplink} type veth peer name {sw.core_port}",
            *(f"link set {name} alias {mark}" for name in (sw.bridge, sw.uplink, sw.core_port)),
            f"link set {sw.uplink} master {sw.bridge} up",
            f"link set {sw.uplink} type bridge_slave learning off",
            f"link set {sw.core_port} master {cable_to} up",
            f"link set {sw.bridge} up",
        ],
    )


def attach_lines(ports: list, bridge: str, mark: str, vf: bool = False) -> list:
    """ip-batch lines that make fabric-side veth ends ports of a bridge, marked and up; a VF's port gets
    no flooded unknown unicast (see the module's docstring)."""
    lines = []
    for port in ports:
        lines += [f"link set {port} alias {mark}", f"link set {port} master {bridge} up"]
        if vf:
            lines.append(f"link set {port} type bridge_slave flood off")
    return lines


def set_port(fabric: Netns, port: str, up: bool) -> None:
    fabric.ip("link", "set", port, "up" if up else "down")


def cable_is_up(fabric: Netns, sw: PfSwitch) -> bool:
    return "UP" in fabric.ip_json("link", "show", "dev", sw.uplink)[0].get("flags", [])


def apply_link_state(fabric: Netns, sw: PfSwitch, index: int, link_state: str) -> None:
    """Carrier of one VF from its link-state and the PF's cable."""
    up = {"disable": False, "enable": True}.get(link_state, None)
    set_port(fabric, sw.vf_port(index), cable_is_up(fabric, sw) if up is None else up)


def shaper_name(port: str) -> str:
    """The IFB device that shapes what a VF sends: its switch port's name and `r` (within IFNAMSIZ)."""
    return f"{port}r"


def tx_rate_burst(mbps: int) -> int:
    """The shaper's bucket in bytes: 10 ms at the rate (a NIC's VF shaper is fine-grained; 10 ms is what the
    lab VM's 1 ms timer can keep to), at least 16 full frames so a GSO burst is not cut to nothing."""
    return max(mbps * 1250, 16 * 1514)


def set_tx_rate(fabric: Netns, port: str, mbps: int, mark: str) -> str:
    """A VF's `max_tx_rate` (Mbps; 0: none) at its switch port; returns the shaper's name ("" for none).

    Shaped (tbf), not policed: a NIC limits a VF's transmit with a scheduler that makes the VF wait, so
    TCP over it runs at the rate; a policer drops the excess and TCP over it runs below, by how much
    depending on the burst. A tbf is an egress qdisc and the VF's traffic is the port's *ingress*, so the
    port redirects it (port_ingress_lines) to an IFB device of its own whose egress is the tbf; the IFB
    then hands each frame back to the port's receive path and the bridge forwards it as before. (The lab
    kernel has no act_police either.) The IFB lives in the fabric netns and goes with it."""
    shaper = shaper_name(port)
    if not mbps:
        run(["ip", "-n", fabric.name, "link", "del", "dev", shaper], check=False)
        return ""
    if run(["ip", "-n", fabric.name, "link", "show", "dev", shaper], check=False).returncode != 0:
        batch(fabric.name, [f"link add name {shaper} type ifb", f"link set {shaper} alias {mark}"])
    batch(fabric.name, [f"link set {shaper} up"])
    tc_batch(
        fabric.name,
        [f"qdisc replace dev {shaper} root tbf rate {mbps}mbit burst {tx_rate_burst(mbps)} latency 50ms"],
    )
    return shaper


def apply_vlan(fabric: Netns, sw: PfSwitch, index: int, vlan: int) -> None:
    """A VF's VLAN (`ip link set PF vf N vlan V`, VST) at its switch port: frames from the VF are tagged V,
    frames to it untagged, and it hears only VLAN V. The PF's bridge becomes VLAN-aware (untagged
    traffic keeps VLAN 1, as before) and its other ports (uplink, PF, peers) carry V tagged."""
    port = sw.vf_port(index)
    shown = run(["bridge", "-n", fabric.name, "-j", "vlan", "show", "dev", port], check=False).stdout
    entries = (json.loads(shown or "[]") or [{}])[0].get("vlans", [])
    pvid = next((v["vlan"] for v in entries if "PVID" in v.get("flags", [])), 0)
    if pvid == (vlan or 1):
        return
    lines = [f"link set {sw.bridge} type bridge vlan_filtering 1"]
    batch(fabric.name, lines)
    cmds = [f"vlan del dev {port} vid {pvid}"] if pvid else []
    cmds.append(f"vlan add dev {port} vid {vlan or 1} pvid untagged")
    if vlan:
        members = fabric.ip_json("link", "show", "master", sw.bridge) or []
        trunks = [m["ifname"] for m in members if not m["ifname"].startswith(f"{sw.prefix}v")]
        cmds += [f"vlan add dev {trunk} vid {vlan}" for trunk in trunks]
    batch(fabric.name, cmds, tool="bridge")


def cable_ports(sw: PfSwitch, vf_states: dict, pf_port: bool, up: bool) -> list:
    """The fabric ports a PF's cable takes with it: every VF whose link-state is auto (a VF forced `enable`
    keeps carrier, one forced `disable` stays without), the PF's own port, and the uplink."""
    keep = "disable" if up else "enable"
    ports = [sw.vf_port(i) for i, state in vf_states.items() if state != keep]
    return ports + ([sw.pf_port] if pf_port else []) + [sw.uplink]


def set_cable(fabric: Netns, sw: PfSwitch, vf_states: dict, pf_port: bool, up: bool) -> None:
    """Pull (up=False) or plug back the PF's cable: every port it takes with it in ONE `ip -batch`.

    One batch, not an `ip` for the uplink and another for the VFs: in the lab VM a process start costs
    100-400 ms, and in between the PF switch had no uplink while its VFs kept carrier - a silent failure
    miimon cannot see - so a PF cut measured the process start plus miimon (454 ms seen in seed 000)."""
    word = "up" if up else "down"
    batch(fabric.name, [f"link set {port} {word}" for port in cable_ports(sw, vf_states, pf_port, up)])


# -- slow protocols (LACP) between the VFs and the PF's cable ------------------------------------------
# A PF's bridge cannot forward LACPDUs (01:80:c2:00:00:02 is in its restricted group_fwd_mask), yet on an
# SR-IOV NIC a VF's LACPDUs leave by the PF's cable and the ToR port at its far end answers: tc carries them
# past the bridge. The model, as NICs do it (the reference does not say more): what a VF sends to the slow
# protocols address goes out the cable only - never to another VF (the embedded switch is an 802.1 bridge
# and relays no reserved group address between its ports); what comes in from the cable to that address
# reaches every VF of the PF (and the PF's own port): the NIC replicates multicast to each function
# listening to the group, and every bond slave listens to it. A cut VF port or cable drops them, as it
# drops everything else.
SLOW_MATCH = f"protocol {lacpdu.ETH_P_SLOW:#06x} flower dst_mac {lacpdu.SLOW_PROTOCOLS_MAC}"


def port_ingress_lines(port: str, uplink: str, spoofchk_mac: str = "", shaper: str = "") -> list:
    """tc-batch lines for what a VF sends (its switch port's ingress, a fresh clsact), as one filter list
    because a filter's `pass` ends tc's classification: slow-protocol frames out the cable (pref 1); then with
    spoofchk on the rest only from the VF's MAC (`spoofchk_mac`), the others dropped; what is let in goes to
    the VF's shaper (`shaper`, set_tx_rate) when it has a rate limit. The NIC's anti-spoof check comes
    first: an LACPDU from another MAC is dropped too."""
    src = f" src_mac {spoofchk_mac}" if spoofchk_mac else ""
    let_in = f"mirred egress redirect dev {shaper}" if shaper else "pass"
    lines = [
        f"qdisc add dev {port} clsact",
        f"filter add dev {port} ingress pref 1 {SLOW_MATCH}{src} action mirred egress redirect dev {uplink}",
    ]
    if spoofchk_mac:
        head = f"filter add dev {port} ingress pref"
        lines += [
            f"{head} 2 protocol all flower src_mac {spoofchk_mac} action {let_in}",
            f"{head} 3 protocol all flower action drop",
        ]
    elif shaper:
        lines.append(f"filter add dev {port} ingress pref 2 protocol all matchall action {let_in}")
    return lines


def set_port_ingress(
    fabric: Netns, sw: PfSwitch, port: str, spoofchk_mac: str = "", shaper: str = ""
) -> None:
    """A VF port's ingress program anew (port_ingress_lines); `tc -n` and the filters in one `tc -batch`."""
    run(["tc", "-n", fabric.name, "qdisc", "del", "dev", port, "clsact"], check=False)
    tc_batch(fabric.name, port_ingress_lines(port, sw.uplink, spoofchk_mac, shaper))


FAN_OUT_LAST = 60000  # the uplink filter that drops a slow-protocol frame once every port has its copy


def fan_out_pref(port: str) -> int:
    """The uplink filter that copies slow-protocol frames to one port: one filter per port, so a recreated
    VF port (a new device: mirred binds a device, not a name) is re-bound alone. PF port: 2, VF n: 10 + n."""
    return 2 if port.endswith("pf") else 10 + int(port.rsplit("v", 1)[1])


def cable_fan_out_lines(sw: PfSwitch, ports: list) -> list:
    """tc-batch lines for what comes in from the cable (the uplink's ingress, a fresh clsact): slow-protocol
    frames copied to each of `ports` (the VFs' ports, the PF's own; a port down or gone is skipped), then
    dropped (the bridge would only hand them to the uplink itself)."""
    return [
        f"qdisc add dev {sw.uplink} clsact",
        *(fan_out_line(sw, port) for port in ports),
        f"filter add dev {sw.uplink} ingress pref {FAN_OUT_LAST} {SLOW_MATCH} action drop",
    ]


def fan_out_line(sw: PfSwitch, port: str) -> str:
    return (
        f"filter add dev {sw.uplink} ingress pref {fan_out_pref(port)} {SLOW_MATCH} "
        f"action mirred egress mirror dev {port} continue"
    )


def rebind_fan_out(fabric: Netns, sw: PfSwitch, port: str) -> None:
    """The uplink's copy to `port` anew, after the port was made again."""
    pref = str(fan_out_pref(port))
    run(["tc", "-n", fabric.name, "filter", "del", "dev", sw.uplink, "ingress", "pref", pref], check=False)
    tc_batch(fabric.name, [fan_out_line(sw, port)])
