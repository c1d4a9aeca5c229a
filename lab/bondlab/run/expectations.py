"""Expectations on kernel state, polled against a deadline where they stand in the timeline (one handler per
kind, registered in run.steps): activeSlave, mii, carrier, macSeen, lacp, aggregator,
connectivity. Each returns its Verdict (traffic.verdict; the deadline's rule is run.deadline.polled)."""

from __future__ import annotations

from bondlab.run.deadline import DEFAULT_WITHIN, polled
from bondlab.run.reader import READER
from bondlab.run.results import ConnectivityRow
from bondlab.traffic.verdict import Verdict, failed, passed
from bondlab.world import lacp as lacp_state
from bondlab.world.netns import Netns


def _poll(tl, args: dict, predicate, what: str, describe) -> Verdict:
    """Timed from the action the check directly follows (tl.since: its link change, or its end for an action
    that lasts), else from now; see run.deadline."""
    within = args.get("within", DEFAULT_WITHIN)
    since = "the action" if tl.since else "the check"
    return polled(predicate, what, describe, tl.since or tl.clock(), within, since)


def _link(tl, link: str) -> dict:
    pod, iface = tl.names.split(link)
    return READER.link(pod.netns, iface)


def active_slave(tl, args: dict) -> Verdict:
    pod, iface = tl.names.split(args["link"])
    bond = tl.names.bond_of(pod)

    def active():
        return READER.link(pod.netns, bond).get("active_slave")

    return _poll(tl, args, lambda: active() == iface, f"active slave of {pod.name}/{bond} is {iface}", active)


def mii(tl, args: dict) -> Verdict:
    def status():
        return _link(tl, args["link"]).get("mii_status")

    want = args["status"].upper()
    return _poll(tl, args, lambda: status() == want, f"MII status of {args['link']} is {want}", status)


def carrier(tl, args: dict) -> Verdict:
    def up():
        return _link(tl, args["link"]).get("carrier")

    return _poll(
        tl,
        args,
        lambda: up() == args["up"],
        f"carrier of {args['link']} is {'up' if args['up'] else 'down'}",
        up,
    )


def mac_seen(tl, args: dict) -> Verdict:
    names = tl.names
    peer_ns, _, _ = names.endpoint(args["peer"])
    pod = names.pod(args["pod"])
    bond = names.bond_of(pod)
    pod_ns, addrs, _ = names.endpoint(args["pod"])
    ip = addrs[0].split("/")[0]

    def seen():
        entries = Netns(peer_ns).ip_json("neigh", "show", ip) or []
        return entries[0].get("lladdr") if entries else None

    def mac():
        return READER.link(pod_ns, bond).get("address")

    return _poll(
        tl,
        args,
        lambda: seen() == mac(),
        f"peer {args['peer']} has {ip} at {bond}'s MAC",
        lambda: f"peer has {seen()}, bond has {mac()}",
    )


def lacp(tl, args: dict) -> Verdict:
    pod, iface = tl.names.split(args["link"])

    def port():
        return lacp_state.slave_state(pod.netns, iface)

    want = args["state"] == "negotiated"
    return _poll(
        tl,
        args,
        lambda: lacp_state.negotiated(port()) == want,
        f"{args['link']} is {args['state']} (LACP)",
        lambda: lacp_state.describe(port()),
    )


def aggregator(tl, args: dict) -> Verdict:
    """802.3ad: the links in one aggregator (`same: true`) or each in its own (`false`);
    `inActiveAggregator`: how many of them are in the bond's active aggregator (only its ports can carry
    traffic; each still needs its partner in sync to)."""
    links = [tl.names.split(link) for link in args["links"]]
    pod = links[0][0]
    bond = tl.names.bond_of(pod)

    def read():
        slaves = {f"{p.name}/{iface}": lacp_state.slave_state(p.netns, iface) for p, iface in links}
        return slaves, lacp_state.active_aggregator(pod.netns, bond)

    def holds() -> bool:
        slaves, active = read()
        ids = [state["aggregator"] for state in slaves.values()]
        together = len(set(ids)) == 1 if args.get("same", True) else len(set(ids)) == len(ids)
        count = args.get("inActiveAggregator")
        return together and (count is None or ids.count(active) == count)

    same = "one aggregator" if args.get("same", True) else "distinct aggregators"
    count = f", {args['inActiveAggregator']} in the active one" if "inActiveAggregator" in args else ""
    held = _poll(
        tl,
        args,
        holds,
        f"{', '.join(args['links'])} in {same}{count}",
        lambda: lacp_state.aggregators(*read()),
    )
    return passed(f"{held}: {lacp_state.aggregators(*read())}") if held.passed else held


def connectivity(tl, args: dict) -> Verdict:
    """3 pings per pair (every pod and peer, or `from` x `to`); rows go to the report's FROM/TO table."""
    names = tl.names
    everyone = [p.name for p in tl.state.pods] + list(tl.state.peers)
    froms, tos = args.get("from") or everyone, args.get("to") or everyone
    want, bad, total = args.get("connected", True), [], 0
    for src in froms:
        src_ns, src_addrs, _ = names.endpoint(src)
        for dst in tos:
            if dst == src:
                continue
            _ns, dst_addrs, _ = names.endpoint(dst)
            if not dst_addrs or not src_addrs:
                continue
            ip = names.address_for(src_addrs, dst_addrs)
            proc = Netns(src_ns).exec(
                "ping", "-c", "3", "-i", "0.2", "-W", "1", "-q", ip, check=False, timeout=30
            )
            got = 0
            for line in proc.stdout.splitlines():
                if "received" in line:
                    got = int(line.split(",")[1].split()[0])
            tl.connectivity.append(ConnectivityRow(src, dst, ip, got, 3))
            total += 1
            if (got > 0) != want:
                bad.append(f"{src} -> {dst} ({ip}) {got}/3")
    if bad:
        return failed(f"{'not connected' if want else 'connected'}: {', '.join(bad)}")
    return passed(f"{total} pair(s) {'connected' if want else 'isolated'}")
