"""Run one scenario: check it, deploy its lab, start the probes, play the timeline, stop, judge, tear down.

Actions are timestamped (CLOCK_REALTIME ns, the probes' clock) when they start; the traffic figures of a
step are those of the probes sent from its action to the next action. Expectations on kernel state
(active slave, MII status, carrier, the MAC a peer has learnt, connectivity) are polled against a deadline
at their place in the timeline; expectations on traffic (outage, lost, spread, carrier per probe, GARP,
LACPDUs) are judged after the probes stop, over the window of the action they follow.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from bondlab import deploy
from bondlab.cni import libcni, multus
from bondlab.model.scenario import Scenario, Step, duration, load
from bondlab.model.yamlsrc import SourceError
from bondlab.run import traffic
from bondlab.world import build as world
from bondlab.world import lacp, switch, vf
from bondlab.world.labstate import LabError
from bondlab.world.netns import CommandError, Netns

DEFAULT_WITHIN = 3.0
TAIL = 0.3  # probes keep flowing this long after the last step, so its window has data


class ExpectationFailed(Exception):
    pass


class MeasurementError(ExpectationFailed):
    """The probes could not see what the expectation asks (a starved sender): re-measure, never pass."""


ATTEMPTS = 3  # a scenario whose only failures are measurement errors runs again, up to this many times


@dataclass
class StepResult:
    index: int
    kind: str
    text: str
    where: str
    t: int = 0  # ns, when the step started
    ok: Optional[bool] = None  # None: an action (no verdict)
    message: str = ""
    action: int = -1  # index of the action whose window a traffic expectation judges
    done_at: int = 0  # ns, when the action's first link change was sent (cuts, restores)


@dataclass
class ScenarioResult:
    path: str
    name: str
    plugin: str = ""
    description: str = ""
    status: str = "error"  # passed, failed, xfailed, xpassed, error
    message: str = ""
    expect_failure: Optional[str] = None
    seconds: float = 0.0
    steps: list = field(default_factory=list)
    windows: list = field(default_factory=list)  # rows: {step, action, flow, from, to, sent, delivered, ...}
    connectivity: list = field(default_factory=list)  # rows: {from, to, connected, total}
    failovers: list = field(default_factory=list)  # rows: {action, pod, garp_ms, event_ms} after link changes
    retried: list = field(default_factory=list)  # messages of attempts dropped for measurement errors
    timeline: dict = field(default_factory=dict)  # for the SVG: flows, probes, actions
    started: int = 0
    stopped: int = 0

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "xfailed")

    def as_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "timeline"}
        out["steps"] = [s.__dict__ for s in self.steps]
        return out


class Reader:
    """Kernel state over one netlink socket per netns (pyroute2): polling spawns no process, which in the lab
    VM costs ~30 ms of CPU each time and would starve the probes."""

    MII = {0: "UP", 1: "FAIL", 2: "DOWN", 3: "BACK"}

    def __init__(self) -> None:
        self.sockets: dict = {}

    def _ipr(self, netns: str):
        if netns not in self.sockets:
            from pyroute2 import IPRoute

            for attempt in range(3):  # pyroute2 forks a helper to enter the netns; a loaded VM can lose it
                try:
                    self.sockets[netns] = IPRoute(netns=netns)
                    break
                except RuntimeError as error:
                    if attempt == 2:
                        raise LabError(f"netlink socket in netns {netns}: {error}") from None
        return self.sockets[netns]

    def link(self, netns: str, ifname: str) -> dict:
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            (msg,) = self._ipr(netns).link("get", ifname=ifname)
        except NetlinkError:
            return {}
        info = msg.get("IFLA_LINKINFO") or {}
        data = (info.get("IFLA_INFO_DATA") if info else None) or {}
        slave = (info.get("IFLA_INFO_SLAVE_DATA") if info else None) or {}
        active = data.get("IFLA_BOND_ACTIVE_SLAVE") if data else None
        return {
            "carrier": bool(msg["flags"] & (1 << 16)),
            "address": msg.get("IFLA_ADDRESS"),
            "active_slave": self.name(netns, active) if active else None,
            "mii_status": self.MII.get(slave.get("IFLA_BOND_SLAVE_MII_STATUS"), "?") if slave else "?",
        }

    def set_up(self, netns: str, names: list, up: bool) -> int:
        """Set links up/down in one netns over the open netlink socket, back to back (indexes resolved
        first); returns when the first change was sent (ns): the cut's own timestamp. Sent, not acknowledged:
        in the lab VM the runner can lose the CPU between the kernel's change and reading the answer, while
        the bond already fails over and sends its gratuitous ARP, which must not look older than the cut."""
        ipr = self._ipr(netns)
        from pyroute2.netlink.exceptions import NetlinkError

        indexes = []
        for name in names:  # one RTM_GETLINK each: link_lookup() dumps and parses every link (~200 ms)
            try:
                indexes.append(ipr.link("get", ifname=name)[0]["index"])
            except NetlinkError:
                raise LabError(f"netns {netns}: no link {name!r}") from None
        first = 0
        for index in indexes:
            first = first or time.time_ns()
            ipr.link("set", index=index, state="up" if up else "down")
        return first

    def name(self, netns: str, index: int):
        got = self._ipr(netns).link("get", index=index)
        return got[0].get("IFLA_IFNAME") if got else None

    def close(self) -> None:
        for ipr in self.sockets.values():
            ipr.close()
        self.sockets.clear()


READER = Reader()


class Run:
    """One scenario on one deployed lab."""

    def __init__(self, scen: Scenario, state, progress: Callable) -> None:
        self.scen, self.state, self.progress = scen, state, progress
        self.fabric = Netns(state.netns_name("fabric"))
        self.flows: list = []
        self.traffic: Optional[traffic.Traffic] = None
        self.result_steps: list = []
        self.deferred: list = []  # (StepResult, kind, args)
        self.actions: list = []  # StepResult of actions, in order
        self.connectivity: list = []
        self.last_cut: list = []  # switch ports cut by `cut: {active: POD}`
        self.since = 0  # ns: when the last action's link change was sent, while checks follow it
        self.partners = 0  # LACP partners made by `lacpPartner` (lag1, lag2, ...)

    # -- the timeline (shared by run_scenario and the pytest fixtures) ----------------------------
    def open_sockets(self) -> None:
        """Open the netlink sockets (and import pyroute2) before the timeline; cuts use the fabric's."""
        for pod in self.state.data["pods"]:
            READER.link(pod["netns"], "lo")
        READER.link(self.fabric.name, "lo")

    def play(self, step: Step, sr: StepResult, failures: list) -> None:
        """One step into `sr` (stamped when it started): an action opens a traffic window (a `wait` does not);
        an expectation polls kernel state now and defers traffic figures until the probes stop."""
        if step.is_action:
            sr.done_at = self.act(step) or 0
            self.since = sr.done_at
            if step.kind != "wait":  # a pause does not open a new traffic window
                self.actions.append(sr)
            return
        sr.action = len(self.actions) - 1
        for kind, args in step.args.items():
            if kind in DEFERRED:
                self.deferred.append((sr, kind, args))
                continue
            _verdict(sr, kind, lambda kind=kind, args=args: self.check(kind, args), failures)
        self.since = 0  # a later check is timed from when it starts

    def stop_traffic(self, failures: list) -> None:
        """Stop the probes (after a tail: the last step's window needs probes after it), then judge the
        deferred expectations on what they recorded."""
        time.sleep(TAIL)
        self.traffic.stop()
        for sr, kind, args in self.deferred:
            _verdict(sr, kind, lambda s=sr, k=kind, a=args: self.judge(s, k, a), failures)

    def close(self) -> None:
        """Kill probe helpers still running and close the netlink sockets (the lab itself stays)."""
        if self.traffic:
            self.traffic.kill()
        READER.close()

    # -- names -> kernel objects --------------------------------------------------------------
    def pod(self, name: str) -> dict:
        """A pod by NAME, NAMESPACE/NAME, or the pod part of POD/BOND."""
        try:
            return multus.find_pod(self.state, name)
        except LabError:
            if name.count("/") != 1:
                raise
            return multus.find_pod(self.state, name.split("/")[0])

    def pod_ns(self, name: str) -> Netns:
        return Netns(self.pod(name)["netns"])

    def bond_of(self, pod: dict) -> str:
        """The bond's name in the pod: CNI_IFNAME, which Multus gives (a config `ifname` is ignored, as
        upstream has ignored it since its PR #35)."""
        for delegate in pod["delegates"]:
            for plugin in delegate["config"].get("plugins") or [delegate["config"]]:
                if plugin.get("type") == "bond":
                    return delegate["ifname"]
        raise LabError(f"pod {pod['key']} has no bond")

    def split(self, link: str):
        pod, _, iface = link.rpartition("/")
        return self.pod(pod), iface

    def slave_port(self, link: str) -> str:
        """The fabric switch port a pod's slave is cabled to (a VF's port, or a host link's PF port)."""
        pod, iface = self.split(link)
        device = next((d.get("device") for d in pod["delegates"] if d["ifname"] == iface), None)
        for record in self.state.data["pfs"]:
            for entry in record["vfs"]:
                if device and entry["pci"] == device:
                    return entry["port"]
            if not record["vfs"] and record["name"] == iface and record["node"] == pod["node"]:
                return switch.PfSwitch(record["switch"]).pf_port
        raise LabError(f"{link}: not a VF or host link the lab cabled (no switch port)")

    def vf_of(self, link: str):
        pod, iface = self.split(link)
        device = next((d.get("device") for d in pod["delegates"] if d["ifname"] == iface), None)
        for record in self.state.data["pfs"]:
            for entry in record["vfs"]:
                if device and entry["pci"] == device:
                    return record, entry["index"]
        raise LabError(f"{link}: not a VF")

    def slaves(self, pod: dict) -> list:
        bond = self.bond_of(pod)
        links = Netns(pod["netns"]).ip_json("-d", "link", "show") or []
        return [link["ifname"] for link in links if link.get("master") == bond]

    def endpoint(self, name: str):
        """(netns, IPv4 address, kind) of a pod (its bond's address) or a peer."""
        peers = self.state.data.get("peers", {})
        if name in peers:
            return peers[name]["netns"], [a.split("/")[0] for a in peers[name]["addresses"]], "peer"
        pod = self.pod(name)
        bond = (
            name.split("/")[1]
            if name.count("/") == 1 and not name.startswith(pod["namespace"] + "/")
            else None
        )
        bond = bond or self.bond_of(pod)
        addrs = Netns(pod["netns"]).ip_json("-4", "addr", "show", "dev", bond) or [{}]
        found = [f"{a['local']}/{a['prefixlen']}" for a in addrs[0].get("addr_info", [])]
        return pod["netns"], found, "pod"

    def address_for(self, src: list, dst: list) -> str:
        """The destination address on the same subnet as the source, else the first."""
        for d in dst:
            for s in src:
                if "/" in s and ipaddress.ip_address(d.split("/")[0]) in ipaddress.ip_interface(s).network:
                    return d.split("/")[0]
        if not dst:
            raise traffic.TrafficError("traffic cannot start: the destination has no IPv4 address")
        return dst[0].split("/")[0]

    # -- traffic ------------------------------------------------------------------------------
    def start_traffic(self, workdir: str) -> None:
        if not self.scen.flows:
            return
        taps, tapped, fid = [], set(), 0
        peers = self.state.data.get("peers", {})
        for raw in self.scen.flows:
            pairs = [(raw["from"], raw["to"])]
            if raw.get("bidirectional", True):
                pairs.append((raw["to"], raw["from"]))
            for src, dst in pairs:
                src_ns, src_addrs, _ = self.endpoint(src)
                dst_ns, dst_addrs, _ = self.endpoint(dst)
                peer_src = [a for a in peers.get(src, {}).get("addresses", [])]
                ip = self.address_for(src_addrs if not peer_src else peer_src, dst_addrs)
                if not src_addrs:
                    raise traffic.TrafficError(f"traffic cannot start: {src} has no IPv4 address")
                fid += 1
                self.flows.append(
                    traffic.Flow(fid, src, dst, src_ns, dst_ns, ip, raw.get("rate", self.scen.rate))
                )
            for end in (raw["from"], raw["to"]):
                if end in tapped:
                    continue
                tapped.add(end)
                if end in peers:
                    taps.append(traffic.Tap(peers[end]["netns"], "eth0", f"peer {end}", neighbour_only=True))
                    continue
                pod = self.pod(end)
                for slave in self.slaves(pod):
                    link = f"{pod['name']}/{slave}"
                    try:
                        taps.append(traffic.Tap(self.fabric.name, self.slave_port(link), link))
                    except LabError:
                        continue
        self.traffic = traffic.Traffic(self.flows, taps, workdir)
        self.traffic.start()
        self.traffic.wait_flowing()
        self.progress(f"traffic flowing: {', '.join(f.name for f in self.flows)} at {self.scen.rate}/s")

    # -- actions ------------------------------------------------------------------------------
    def ports(self, names: list, up: bool) -> int:
        """Fabric switch ports up/down in-process (no `ip` process start, ~100-400 ms of a loaded lab VM,
        between two ports of one cut); returns when the first was sent."""
        return READER.set_up(self.fabric.name, names, up)

    def _target(self, args: dict, up: bool) -> int:
        if "active" in args:
            if up:
                return self.ports([self.last_cut.pop()], True)
            pod = self.pod(args["active"])
            active = READER.link(pod["netns"], self.bond_of(pod)).get("active_slave")
            if not active:
                raise LabError(f"{args['active']}: the bond has no active slave to cut")
            self.last_cut.append(self.slave_port(f"{pod['name']}/{active}"))
            return self.ports([self.last_cut[-1]], False)
        if "vf" in args:
            return self.ports([self.slave_port(args["vf"])], up)
        if "pf" in args:  # the whole cable at once: VFs (link-state auto), PF port, uplink
            node, pf = args["pf"].split("/", 1)
            return self.ports(world.pf_cable_ports(self.state, node, pf, restore=up), up)
        if "uplink" in args:
            node, pf = args["uplink"].split("/", 1)
            return self.ports([switch.PfSwitch(world.find_pf(self.state, node, pf)["switch"]).uplink], up)
        return self.ports([args["port"]], up)

    def act(self, step: Step) -> int:
        """Do one action; returns when the kernel took its first link change (ns), 0 if not a link change."""
        kind, args = step.kind, step.args
        if kind in ("cut", "restore"):
            return self._target(args, kind == "restore")
        elif kind == "linkState":
            record, index = self.vf_of(args["vf"])
            vf.configure_vf(self.state, record, index, {"link_state": args["state"]})
        elif kind == "admin":
            pod, iface = self.split(args["link"])
            return READER.set_up(pod["netns"], [iface], args["state"] == "up")
        elif kind == "flap":
            port, half = self.slave_port(args["vf"]), duration(args.get("period", "200ms")) / 2
            first = 0
            for _ in range(args.get("times", 3)):  # pacing the flaps is the action itself
                first = first or self.ports([port], False)
                time.sleep(half)
                self.ports([port], True)
                time.sleep(half)
            return first
        elif kind == "netem":
            pod, iface = self.split(args["vf"])
            port = self.slave_port(args["vf"])
            for ns, dev in ((self.fabric, port), (Netns(pod["netns"]), iface)):
                if args.get("clear"):
                    ns.exec("tc", "qdisc", "del", "dev", dev, "root", check=False)
                    continue
                words = ["loss", f"{args.get('loss', 0)}%"]
                if args.get("delay"):
                    words += ["delay", f"{duration(args['delay']) * 1000:g}ms"]
                ns.exec("tc", "qdisc", "replace", "dev", dev, "root", "netem", *words)
        elif kind == "setActive":
            pod, iface = self.split(args["link"])
            Netns(pod["netns"]).ip("link", "set", self.bond_of(pod), "type", "bond", "active_slave", iface)
        elif kind == "deleteSlave":
            pod, iface = self.split(args["link"])
            Netns(pod["netns"]).ip("link", "del", iface)
        elif kind == "restartPod":
            self.restart_pod(self.pod(args["pod"]))
        elif kind == "lacpPartner":
            pod = self.pod(args["pod"])
            ports = [self.slave_port(f"{pod['name']}/{slave}") for slave in self.slaves(pod)]
            self.partners += 1
            lacp.make_partner(self.fabric, f"lag{self.partners}", ports, self.state.mark)
        elif kind == "wait":
            time.sleep(duration(args))  # a scenario's own pause (e.g. let the bond run), not a state wait
        return 0

    def restart_pod(self, pod: dict) -> None:
        """CNI DEL of every delegate (reverse order), then ADD again in annotation order, same netns."""
        entries = list(pod["delegates"])
        errors = multus._del_delegates(self.state, pod)
        if errors:
            raise LabError(f"pod {pod['key']}: DEL failed: {'; '.join(errors)}")
        for entry in entries:
            pod["delegates"].append(entry)
            self.state.save()
            pod["results"][entry["ifname"]] = libcni.add(
                entry["config"], multus._runtime(self.state, pod, entry), str(self.state.dir / "cni")
            )
            self.state.save()

    # -- expectations on kernel state (polled) ------------------------------------------------
    def _link(self, link: str) -> dict:
        pod, iface = self.split(link)
        return READER.link(pod["netns"], iface)

    def check(self, kind: str, args: dict) -> str:
        within = duration(args.get("within", DEFAULT_WITHIN)) if isinstance(args, dict) else DEFAULT_WITHIN
        since = "the action" if self.since else "the check"
        base = self.since or time.time_ns()
        deadline = base + int(within * 1e9)

        def polled(predicate, what: str, describe) -> str:
            """Timed from when the action's link change was sent when the check follows it directly. A read
            that starts after the deadline and sees the old state is a failure; a change seen by a read
            that ended after the deadline, with the read before it started before the deadline, happened
            when the runner was not looking (starved): a measurement error, never a pass."""
            last_false = None
            while True:
                start = time.time_ns()
                ok = predicate()
                end = time.time_ns()
                if ok:
                    if end > deadline and last_false is not None and last_false < deadline:
                        raise MeasurementError(
                            f"measurement error: {what}: seen {(end - base) / 1e6:.0f} ms after {since}, "
                            f"not yet {(last_false - base) / 1e6:.0f} ms after it: the {within * 1000:g} ms "
                            "deadline fell between two reads"
                        )
                    if end > deadline and last_false is None:
                        raise MeasurementError(
                            f"measurement error: {what}: first read only {(end - base) / 1e6:.0f} ms after "
                            f"{since} (the {within * 1000:g} ms deadline had passed)"
                        )
                    return f"after {(end - base) / 1e6:.0f} ms"
                if start >= deadline:
                    raise ExpectationFailed(
                        f"{what}: not within {within * 1000:g} ms of {since} (now {describe()})"
                    )
                last_false = start
                time.sleep(max(0.0, min(0.02, (deadline - time.time_ns()) / 1e9)))

        if kind == "activeSlave":
            pod, iface = self.split(args["link"])
            bond = self.bond_of(pod)

            def active():
                return READER.link(pod["netns"], bond).get("active_slave")

            return polled(
                lambda: active() == iface, f"active slave of {pod['name']}/{bond} is {iface}", active
            )
        if kind == "mii":

            def mii():
                return self._link(args["link"]).get("mii_status")

            want = args["status"].upper()
            return polled(lambda: mii() == want, f"MII status of {args['link']} is {want}", mii)
        if kind == "carrier":

            def carrier():
                return self._link(args["link"]).get("carrier")

            return polled(
                lambda: carrier() == args["up"],
                f"carrier of {args['link']} is {'up' if args['up'] else 'down'}",
                carrier,
            )
        if kind == "macSeen":
            peer_ns, _, _ = self.endpoint(args["peer"])
            pod = self.pod(args["pod"])
            bond = self.bond_of(pod)
            pod_ns, addrs, _ = self.endpoint(args["pod"])
            ip = addrs[0].split("/")[0]

            def seen():
                entries = Netns(peer_ns).ip_json("neigh", "show", ip) or []
                return entries[0].get("lladdr") if entries else None

            def mac():
                return READER.link(pod_ns, bond).get("address")

            return polled(
                lambda: seen() == mac(),
                f"peer {args['peer']} has {ip} at {bond}'s MAC",
                lambda: f"peer has {seen()}, bond has {mac()}",
            )
        if kind == "lacp":
            pod, iface = self.split(args["link"])

            def port():
                return lacp.slave_state(pod["netns"], iface)

            want = args["state"] == "negotiated"
            return polled(
                lambda: lacp.negotiated(port()) == want,
                f"{args['link']} is {args['state']} (LACP)",
                lambda: lacp.describe(port()),
            )
        if kind == "connectivity":
            return self.connectivity_matrix(args)
        raise ValueError(kind)

    def connectivity_matrix(self, args: dict) -> str:
        everyone = [p["name"] for p in self.state.data["pods"]] + list(self.state.data.get("peers", {}))
        froms, tos = args.get("from") or everyone, args.get("to") or everyone
        want, bad, total = args.get("connected", True), [], 0
        for src in froms:
            src_ns, src_addrs, _ = self.endpoint(src)
            for dst in tos:
                if dst == src:
                    continue
                _ns, dst_addrs, _ = self.endpoint(dst)
                if not dst_addrs or not src_addrs:
                    continue
                ip = self.address_for(src_addrs, dst_addrs)
                proc = Netns(src_ns).exec(
                    "ping", "-c", "3", "-i", "0.2", "-W", "1", "-q", ip, check=False, timeout=30
                )
                got = 0
                for line in proc.stdout.splitlines():
                    if "received" in line:
                        got = int(line.split(",")[1].split()[0])
                self.connectivity.append({"from": src, "to": dst, "ip": ip, "connected": got, "total": 3})
                total += 1
                if (got > 0) != want:
                    bad.append(f"{src} -> {dst} ({ip}) {got}/3")
        if bad:
            raise ExpectationFailed(f"{'not connected' if want else 'connected'}: {', '.join(bad)}")
        return f"{total} pair(s) {'connected' if want else 'isolated'}"

    # -- expectations on traffic (after the probes stop) -------------------------------------
    def flows_named(self, name: Optional[str]) -> list:
        return [f for f in self.flows if name in (None, f.name)]

    def window_of(self, flow, action: int):
        start = self.actions[action].t if action >= 0 else self.traffic.started
        later = [a.t for a in self.actions if a.t > start]
        end = later[0] if later else self.traffic.stopped
        return traffic.window(
            self.traffic.sent(flow),
            self.traffic.received(flow),
            self.traffic.carriers(flow),
            start,
            end,
            self.traffic.stopped,
        )

    def judge(self, result: StepResult, kind: str, args: dict) -> str:
        act = result.action
        if kind in ("outage", "lost", "duplicated"):
            out = []
            for flow in self.flows_named(args.get("flow")):
                w = self.window_of(flow, act)
                value = w.outage_ms if kind == "outage" else getattr(w, kind)
                lo = args.get("min")
                hi = args.get("max")
                if kind == "outage":
                    lo = duration(lo) * 1000 if lo is not None else None
                    hi = duration(hi) * 1000 if hi is not None else None
                    said = traffic.outage_verdict(w, lo, hi)
                    if said.startswith("measurement error"):
                        raise MeasurementError(f"{flow.name}: {said}")
                unit = " ms" if kind == "outage" else ""
                if hi is not None and value > hi:
                    raise ExpectationFailed(f"{flow.name}: {kind} {value:g}{unit} > {hi:g}{unit}")
                if lo is not None and value < lo:
                    raise ExpectationFailed(f"{flow.name}: {kind} {value:g}{unit} < {lo:g}{unit}")
                out.append(f"{flow.name} {value:g}{unit}")
            return "; ".join(out)
        if kind in ("spread", "carriedBy"):
            links = args["links"] if kind == "spread" else [args["link"]]
            share = args.get("minShare", 0.1 if kind == "spread" else 0.9)
            out = []
            for flow in self.flows_named(args.get("flow")):
                w = self.window_of(flow, act)
                total = sum(w.per_slave.values()) or 1
                for link in links:
                    got = w.per_slave.get(link, 0) / total
                    if got < share:
                        raise ExpectationFailed(
                            f"{flow.name}: {link} carried {got:.0%} of the probes (< {share:.0%}); "
                            f"per slave: {w.per_slave}"
                        )
                out.append(f"{flow.name} " + " ".join(f"{k}={v}" for k, v in sorted(w.per_slave.items())))
            return "; ".join(out)
        if kind == "garp":
            # from when the cut was sent when there is one (not from the action's start,
            # which includes looking the ports up)
            start = (self.actions[act].done_at or self.actions[act].t) if act >= 0 else self.traffic.started
            stamps = traffic.garps(self.traffic.tap_events(), f"peer {args['peer']}", start)
            within = duration(args.get("within", "1s")) * 1e9
            if len(stamps) < max(1, args.get("min", 1)):
                raise ExpectationFailed(f"peer {args['peer']} saw {len(stamps)} GARP/NA after the action")
            first = (stamps[0] - start) / 1e6
            if first > within / 1e6:
                raise ExpectationFailed(f"first GARP at {first:.1f} ms > {within / 1e6:g} ms")
            return f"{len(stamps)} GARP/NA, first after {first:.1f} ms"
        if kind == "lacpdu":
            seen = traffic.lacpdus(self.traffic.tap_events(), args["link"])
            sent = [p for p in seen if not p["outgoing"]]
            if len(sent) < args.get("min", 1):
                raise ExpectationFailed(
                    f"{args['link']}: {len(sent)} LACPDU(s) from the bond at the switch port"
                )
            return f"{len(sent)} LACPDUs from the bond, {len(seen) - len(sent)} to it"
        raise ValueError(kind)


DEFERRED = ("outage", "lost", "duplicated", "spread", "carriedBy", "garp", "lacpdu")


def run_scenario(
    path: str, plugin: Optional[str] = None, progress: Callable = lambda text: None
) -> ScenarioResult:
    """Run one scenario file; bad input and lab errors become status 'error' with one clear message."""
    began = time.monotonic()
    result = ScenarioResult(path=path, name=os.path.basename(path), plugin=plugin or deploy.default_plugin())
    try:
        scen = load(path)
        result.name, result.description, result.expect_failure = (
            scen.name,
            scen.description,
            scen.expect_failure,
        )
        for attempt in range(1, ATTEMPTS + 1):
            _run(scen, result, plugin, progress)
            blind = result.status == "failed" and all(
                "measurement error" in line for line in result.message.splitlines()
            )
            if not blind or attempt == ATTEMPTS:
                break
            progress(f"attempt {attempt}: measurement error only; running again")
            result.retried.append(result.message)
            result.steps, result.windows, result.connectivity, result.failovers = [], [], [], []
    except (SourceError, LabError, traffic.TrafficError, CommandError, libcni.CniError) as error:
        result.status, result.message = "error", str(error)
    result.seconds = round(time.monotonic() - began, 2)
    if result.status in ("failed", "passed") and result.expect_failure:
        result.status = "xfailed" if result.status == "failed" else "xpassed"
        if result.status == "xpassed":
            result.message = f"expected to fail ({result.expect_failure}) but every expectation held"
    return result


def _run(scen: Scenario, result: ScenarioResult, plugin: Optional[str], progress: Callable) -> None:
    from bondlab.model import scenario as scenario_mod

    prepared = deploy.prepare(scen.files, backend=scen.backend)
    scenario_mod.check_names(scen, prepared)
    name = f"sc-{secrets.token_hex(3)}"
    if scen.deploy_fails is not None:
        try:
            state = deploy.deploy(prepared, name=name, plugin=plugin)
        except LabError as error:
            match = scen.deploy_fails.get("match", "")
            if match.lower() in str(error).lower():
                result.status, result.message = "passed", f"deploy failed as expected: {error}"
            else:
                result.status, result.message = "failed", f"deploy failed without {match!r}: {error}"
            return
        deploy.destroy(state)
        result.status, result.message = "failed", "deploy succeeded; the scenario expects it to fail"
        return
    progress("deploying the lab")
    state = deploy.deploy(prepared, name=name, plugin=plugin, progress=lambda t: progress(t))
    run = Run(scen, state, progress)
    failures = []
    try:
        run.open_sockets()
        with tempfile.TemporaryDirectory(prefix="bondlab-traffic-") as workdir:
            run.start_traffic(workdir)
            total = len(scen.steps)
            for step in scen.steps:
                sr = StepResult(step.index, step.kind, step.describe(), step.where, t=time.time_ns())
                result.steps.append(sr)
                run.play(step, sr, failures)
                if step.is_action:
                    progress(f"[{step.index + 1}/{total}] {sr.text}")
                    continue
                verdict = "ok" if sr.ok is not False else "FAILED"
                progress(f"[{step.index + 1}/{total}] {sr.text}: {verdict} {sr.message}")
            if run.traffic:
                run.stop_traffic(failures)
                _figures(run, result)
    finally:
        run.close()
        errors = deploy.destroy(state)
        if errors:
            failures.append("teardown: " + "; ".join(errors))
    result.connectivity = run.connectivity
    result.status = "failed" if failures else "passed"
    result.message = "\n".join(failures)


def _verdict(sr: StepResult, kind: str, evaluate: Callable, failures: list) -> None:
    """Evaluate one expectation into its step's verdict and message; a failure also joins `failures`."""
    try:
        said = evaluate()
        sr.ok = sr.ok is not False
    except ExpectationFailed as error:
        sr.ok, said = False, str(error)
        failures.append(f"{sr.where}: {kind}: {error}")
    sr.message = (sr.message + "; " if sr.message else "") + f"{kind}: {said}"


def _figures(run: Run, result: ScenarioResult) -> None:
    """Per action and flow: the step's window; and the timeline picture's data."""
    tr = run.traffic
    result.started, result.stopped = tr.started, tr.stopped
    marks = [(-1, "start")] + [(i, a.text) for i, a in enumerate(run.actions)]
    for flow in run.flows:
        for index, text in marks:
            w = run.window_of(flow, index)
            result.windows.append(
                {"action": text, "flow": flow.name, "from": flow.src, "to": flow.dst, **w.as_dict()}
            )
    probes = {}
    for flow in run.flows:
        carriers = tr.carriers(flow)
        got = {seq for seq, _s, _r in tr.received(flow)}
        sent = tr.sent(flow)
        probes[flow.name] = [
            [round((t - tr.started) / 1e6, 3), carriers.get(seq, "?") if seq in got else None]
            for seq, t in enumerate(sent)
        ]
    result.failovers = _failovers(run)
    result.timeline = {
        "flows": [f.name for f in run.flows],
        "probes": probes,
        "actions": [[round((a.t - tr.started) / 1e6, 3), a.text] for a in run.actions],
        "end_ms": round((tr.stopped - tr.started) / 1e6, 3),
    }


def _failovers(run: Run) -> list:
    """Per link-changing action and bonded pod: when the kernel failed over (see traffic.failover_times)."""
    tr, out = run.traffic, []
    taps = tr.tap_events()
    for i, action in enumerate(run.actions):
        if not action.done_at or action.kind not in ("cut", "flap", "admin"):
            continue
        before = run.actions[i + 1].t if i + 1 < len(run.actions) else tr.stopped
        for pod in run.state.data["pods"]:
            try:
                bond = run.bond_of(pod)
            except LabError:
                continue
            labels = [t.label for t in tr.taps if t.label.startswith(pod["name"] + "/")]
            got = traffic.failover_times(
                tr.link_events(pod["netns"]), taps, bond, labels, action.done_at, before
            )
            if got["garp_ns"] or got["event_ns"]:
                out.append(
                    {
                        "action": action.text,
                        "pod": pod["name"],
                        "garp_ms": round((got["garp_ns"] - action.done_at) / 1e6, 3)
                        if got["garp_ns"]
                        else None,
                        "event_ms": round((got["event_ns"] - action.done_at) / 1e6, 3)
                        if got["event_ns"]
                        else None,
                    }
                )
    return out
