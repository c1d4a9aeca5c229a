"""The actions a scenario step takes, one handler per kind (registered in run.steps). A handler gets the
timeline and the step's arguments (durations in seconds, parsed at load) and returns when the kernel was
sent its first link change (ns), 0 when the action changes no link."""

from __future__ import annotations

import time

from bondlab.cni import multus
from bondlab.run.reader import READER
from bondlab.world import build, lacp, vf
from bondlab.world import lacp_partner as scapy_partner
from bondlab.world.labstate import LabError
from bondlab.world.netns import Netns


def ports(tl, names: list, up: bool) -> int:
    """Fabric switch ports up/down in-process (no `ip` process start, ~100-400 ms of a loaded lab VM,
    between two ports of one cut); returns when the first was sent."""
    return READER.set_up(tl.fabric.name, names, up)


def _target(tl, args: dict, up: bool) -> int:
    names = tl.names
    if "active" in args:
        if up:
            return ports(tl, [tl.last_cut.pop()], True)
        pod = names.pod(args["active"])
        active = READER.link(pod.netns, names.bond_of(pod)).get("active_slave")
        if not active:
            raise LabError(f"{args['active']}: the bond has no active slave to cut")
        tl.last_cut.append(names.slave_port(f"{pod.name}/{active}"))
        return ports(tl, [tl.last_cut[-1]], False)
    if "vf" in args:
        return ports(tl, [names.slave_port(args["vf"])], up)
    if "pf" in args:  # the whole cable at once: VFs (link-state auto), PF port, uplink
        node, pf = args["pf"].split("/", 1)
        return ports(tl, build.pf_cable_ports(tl.state, node, pf, restore=up), up)
    if "uplink" in args:
        node, pf = args["uplink"].split("/", 1)
        return ports(tl, [tl.state.pf(node, pf).uplink], up)
    if "switch" in args:  # every cable into it, in one call
        return ports(tl, build.switch_ports(tl.state, args["switch"], restore=up), up)
    if "switchLink" in args:
        return ports(tl, build.switch_link_ports(tl.state, *args["switchLink"].split("/", 1)), up)
    return ports(tl, [args["port"]], up)


def cut(tl, args: dict) -> int:
    return _target(tl, args, False)


def restore(tl, args: dict) -> int:
    return _target(tl, args, True)


def link_state(tl, args: dict) -> int:
    record, index = tl.names.vf_of(args["vf"])
    vf.configure_vf(tl.state, record, index, {"link_state": args["state"]})
    return 0


def admin(tl, args: dict) -> int:
    pod, iface = tl.names.split(args["link"])
    return READER.set_up(pod.netns, [iface], args["state"] == "up")


def flap(tl, args: dict) -> int:
    port, half = tl.names.slave_port(args["vf"]), args.get("period", 0.2) / 2
    first = 0
    for _ in range(args.get("times", 3)):  # pacing the flaps is the action itself
        first = first or ports(tl, [port], False)
        time.sleep(half)
        ports(tl, [port], True)
        time.sleep(half)
    return first


def reboot(tl, args: dict) -> int:
    """The switch goes down as `cut: {switch}` does, and comes back after `downFor` (its ports up again: the
    links' carriers return and an 802.3ad partner starts LACP over); holding it down is the action itself."""
    first = ports(tl, build.switch_ports(tl.state, args["switch"]), False)
    time.sleep(args.get("downFor", 2.0))
    ports(tl, build.switch_ports(tl.state, args["switch"], restore=True), True)
    return first


def netem(tl, args: dict) -> int:
    pod, iface = tl.names.split(args["vf"])
    port = tl.names.slave_port(args["vf"])
    for ns, dev in ((tl.fabric, port), (Netns(pod.netns), iface)):
        if args.get("clear"):
            ns.exec("tc", "qdisc", "del", "dev", dev, "root", check=False)
            continue
        words = ["loss", f"{args.get('loss', 0)}%"]
        if args.get("delay"):
            words += ["delay", f"{args['delay'] * 1000:g}ms"]
        ns.exec("tc", "qdisc", "replace", "dev", dev, "root", "netem", *words)
    return 0


def set_active(tl, args: dict) -> int:
    pod, iface = tl.names.split(args["link"])
    Netns(pod.netns).ip("link", "set", tl.names.bond_of(pod), "type", "bond", "active_slave", iface)
    return 0


def delete_slave(tl, args: dict) -> int:
    pod, iface = tl.names.split(args["link"])
    Netns(pod.netns).ip("link", "del", iface)
    return 0


def restart_pod(tl, args: dict) -> int:
    multus.restart_pod(tl.state, tl.names.pod(args["pod"]))  # writes the pod's new record
    return 0


def lacp_partner(tl, args: dict) -> int:
    """The LACP partner at the ToR ports behind the pod's slaves (each slave's PF cable lands on one, shared
    by every VF of that PF): with `behaviour` the scapy partner (world.lacp_partner) on the ports behind the
    given links (default: all), started or told its new behaviour; without, the switch's own 802.3ad bond
    (world.lacp). One kind per ToR port."""
    pod = tl.names.pod(args["pod"])
    behind = {}
    for slave in tl.names.slaves(pod):
        tl.names.slave_port(f"{pod.name}/{slave}")  # a VF or host link the lab cabled, or a clear error
        behind[slave] = lacp.partner_port(tl.state, tl.state.pf(*pod.cable(slave).pf.split("/", 1)))
    partners = tl.state.lacp_partners
    ports = list({port["ifname"]: port for port in behind.values()}.values())
    other = set(partners.get("lags", {})) if "behaviour" in args else scapy_partner.speaks_on(tl.state)
    taken = sorted(port["ifname"] for port in ports if port["ifname"] in other)
    if taken:
        raise LabError(
            f"lacpPartner {pod.name}: ToR ports {', '.join(taken)} have a partner of the other kind"
        )
    if "behaviour" not in args:
        if "links" in args:
            raise LabError(f"lacpPartner {pod.name}: `links` says which ports take a `behaviour`: give one")
        lacp.make_partners(tl.state, tl.fabric, ports)
        return 0
    chosen = [tl.names.split(link) for link in args.get("links", [])]
    strangers = [iface for owner, iface in chosen if owner.key != pod.key or iface not in behind]
    if strangers:
        raise LabError(f"lacpPartner {pod.name}: not slaves of its bond: {', '.join(strangers)}")
    named = [iface for _owner, iface in chosen] or list(behind)
    scapy_partner.speak(
        tl.state, tl.fabric.name, ports, {behind[iface]["ifname"]: args["behaviour"] for iface in named}
    )
    return 0


def wait(tl, seconds: float) -> int:
    time.sleep(seconds)  # a scenario's own pause (e.g. let the bond run), not a state wait
    return 0
