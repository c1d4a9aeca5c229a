"""Expectations over bondlab.concheck where they stand in a scenario's timeline (registered in run.steps):
`concheck` - every pod to every pod and peer of each network connected (rows to the report's FROM/TO table,
with a bandwidth per IP when asked) - and `bandwidth: {from, to, min, max}` - one pair's bulk transfer
within bounds in Mbit/s, e.g. a balance-xor bond over two rate-limited VFs carrying about twice what an
active-backup one does."""

from __future__ import annotations

import ipaddress

from bondlab import concheck
from bondlab.run.results import ConnectivityRow
from bondlab.traffic.verdict import Verdict, failed, passed

DEFAULT_DURATION = 1.0  # s of each transfer
DEFAULT_STREAMS = 4  # iperf3 -P


def connection_check(tl, args: dict) -> Verdict:
    bandwidth = args.get("bandwidth", False)
    duration, streams = args.get("duration", DEFAULT_DURATION), args.get("streams", DEFAULT_STREAMS)
    found = concheck.check(tl.state, bandwidth, duration, streams)
    bad, total = [], 0
    for _subnet, pairs in found:
        for pair in pairs:
            for probe in pair.probes:
                total += 1
                carried = probe.bits_per_second if bandwidth else None
                tl.connectivity.append(
                    ConnectivityRow(
                        pair.source.name, pair.destination.name, probe.ip, probe.received, probe.sent, carried
                    )
                )
                if not probe.connected or (bandwidth and probe.error):
                    said = probe.error or f"{probe.received}/{probe.sent}"
                    bad.append(f"{pair.source.name} -> {pair.destination.name} ({probe.ip}) {said}")
    if bad:
        return failed(f"not connected: {', '.join(bad)}")
    if not total:
        return failed("no network with two or more endpoints to check")
    return passed(f"{total} IP(s) connected" + (" with a bandwidth each" if bandwidth else ""))


def _source_address(addresses: list, destination: str) -> str:
    """The source's address on the destination's subnet (a pod's addresses carry their prefix), else its
    first."""
    target = ipaddress.ip_address(destination)
    for address in addresses:
        if "/" in address and target in ipaddress.ip_interface(address).network:
            return address.split("/")[0]
    return addresses[0].split("/")[0]


def bandwidth(tl, args: dict) -> Verdict:
    names = tl.names
    src_ns, src_addrs, _ = names.endpoint(args["from"])
    dst_ns, dst_addrs, kind = names.endpoint(args["to"])
    ip = names.address_for(src_addrs, dst_addrs)
    probe = concheck.Probe(ip, _source_address(src_addrs, ip))
    source = concheck.Endpoint(args["from"], src_ns, (probe.from_ip,))
    pair = concheck.Pair(source, concheck.Endpoint(args["to"], dst_ns, (ip,), kind == "pod"), [probe])
    duration, streams = args.get("duration", DEFAULT_DURATION), args.get("streams", DEFAULT_STREAMS)
    concheck.transfer_all([(pair, probe)], duration, streams)
    what = f"{args['from']} -> {args['to']} ({ip}, {streams} stream(s))"
    if probe.error:
        return failed(f"{what}: {probe.error}")
    got = concheck.rate_text(probe.bits_per_second)
    low, high = args.get("min"), args.get("max")
    mbps = probe.bits_per_second / 1e6
    if (low is not None and mbps < low) or (high is not None and mbps > high):
        bounds = " and ".join(
            f"{word} {value:g} Mbit/s" for word, value in (("min", low), ("max", high)) if value
        )
        return failed(f"{what}: {got}, outside {bounds}")
    return passed(f"{what}: {got}")
