"""`bondlab concheck`: seed 004's connection check on a deployed lab - every pod to every pod and peer of
each network, CONNECTED/TOTAL per destination, the IPs, and a bandwidth per IP from a short bulk transfer.

A network is the lab's interfaces that share a subnet (a bond's address, a plain VF's, a peer's); a pod
with two interfaces in one subnet has two IPs there, as Multi-NIC CNI's pods do. Pings run all at once
(each is a process that mostly waits); transfers run one after another, so that no two share a link and
each figure is what that pair alone gets.

The transfer tool is iperf3 (Debian packages it; `bondlab doctor` installs it): TCP, several parallel
streams (`-P`, default 4) so that a layer3+4 transmit hash can spread one pair over a bond's slaves as an
application with several connections would, the receiver's count (`sum_received`) as the figure. One
server per destination netns for the whole check; iperf3 serves one test at a time, which the
one-after-another order respects.

It stands with traffic in the lab's layers (a measurement over a deployed lab, like the probes), below the
scenario runner, whose `concheck` and `bandwidth` expectations (run.bandwidth) use it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import selectors
import shutil
import subprocess
import time
from dataclasses import dataclass, field

from bondlab.util.tables import table
from bondlab.world.labstate import LabError

PING_COUNT = 3
PING_INTERVAL = 0.2  # s, root may go below 1 s
PING_WAIT = 1  # s a reply may take
SERVER_START = 10.0  # s for an iperf3 server to listen (a process start is 100-400 ms in the lab VM)


@dataclass(frozen=True)
class Endpoint:
    """One pod's or peer's addresses in one network: who (`name`), the netns to run in, its IPs there."""

    name: str
    netns: str
    ips: tuple
    pod: bool = True


@dataclass
class Probe:
    """One destination IP of a pair: pings sent and answered, the transfer's bits per second (None: none
    ran), and why it failed if it did."""

    ip: str
    from_ip: str
    sent: int = 0
    received: int = 0
    bits_per_second: float = None
    error: str = ""

    @property
    def connected(self) -> bool:
        return self.received > 0


@dataclass
class Pair:
    source: Endpoint
    destination: Endpoint
    probes: list = field(default_factory=list)


def networks(state) -> dict:
    """subnet (str) -> [Endpoint], pods in deploy order then peers by name; a subnet only one endpoint
    has is left out (nothing to check there)."""
    found = {}

    def add(name: str, netns: str, addresses, pod: bool) -> None:
        for address in addresses:
            interface = ipaddress.ip_interface(address)
            if interface.version == 4 and interface.network.prefixlen < 32:
                found.setdefault(str(interface.network), {}).setdefault((name, netns, pod), []).append(
                    str(interface.ip)
                )

    for pod in state.pods:
        name = pod.name if pod.namespace == "default" else pod.key
        for ifname in sorted(pod.addresses):
            add(name, pod.netns, pod.addresses[ifname], True)
    for name, peer in sorted(state.peers.items()):
        add(name, peer.netns, peer.addresses, False)
    out = {}
    for subnet, members in found.items():
        endpoints = [Endpoint(name, netns, tuple(ips), pod) for (name, netns, pod), ips in members.items()]
        if len(endpoints) > 1:
            out[subnet] = endpoints
    return out


def plan(endpoints: list) -> list:
    """Every pod to every other endpoint of the network; the i-th IP of the destination from the i-th of
    the source (its first when it has fewer), as Multi-NIC CNI's check pairs interface with interface."""
    pairs = []
    for source in (e for e in endpoints if e.pod):
        for destination in endpoints:
            if destination is source:
                continue
            probes = [
                Probe(ip, source.ips[i] if i < len(source.ips) else source.ips[0])
                for i, ip in enumerate(destination.ips)
            ]
            pairs.append(Pair(source, destination, probes))
    return pairs


_PING = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")


def ping_counts(output: str) -> tuple:
    """(sent, received) from ping's summary line; (0, 0) if it printed none."""
    match = _PING.search(output)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def ping_all(pairs: list) -> None:
    """Every probe's pings, all at once."""
    running = []
    for pair in pairs:
        for probe in pair.probes:
            argv = ["ip", "netns", "exec", pair.source.netns, "ping", "-n", "-q", "-c", str(PING_COUNT)]
            argv += ["-i", str(PING_INTERVAL), "-W", str(PING_WAIT), "-I", probe.from_ip, probe.ip]
            running.append((probe, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)))
    budget = PING_COUNT * PING_INTERVAL + PING_WAIT + 30  # + process starts in a busy lab VM
    for probe, proc in running:
        try:
            output = proc.communicate(timeout=budget)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            proc.kill()
            output = proc.communicate()[0].decode(errors="replace")
        probe.sent, probe.received = ping_counts(output)
        if not probe.sent:
            probe.error = (
                output.strip().splitlines()[-1] if output.strip() else f"ping exit {proc.returncode}"
            )


def transfer_rate(report: dict) -> float:
    """Bits per second the receiver counted, from `iperf3 -J`'s report."""
    return float(report["end"]["sum_received"]["bits_per_second"])


class Servers:
    """One iperf3 server in each destination's netns, for the length of a `with` block."""

    def __init__(self, netns: list) -> None:
        self.netns, self.procs = sorted(set(netns)), []

    def __enter__(self) -> Servers:
        try:
            for netns in self.netns:
                argv = ["ip", "netns", "exec", netns, "iperf3", "-s", "--forceflush"]
                self.procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            self._wait_listening()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_listening(self) -> None:
        """Until every server said `Server listening`, within SERVER_START."""
        deadline = time.monotonic() + SERVER_START
        with selectors.DefaultSelector() as selector:
            said = {}
            for proc in self.procs:
                selector.register(proc.stdout, selectors.EVENT_READ, proc)
                said[proc] = b""
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LabError(f"iperf3 servers not listening within {SERVER_START:g} s")
                for key, _ in selector.select(left):
                    proc = key.data
                    chunk = os.read(proc.stdout.fileno(), 4096)
                    said[proc] += chunk
                    if b"Server listening" in said[proc]:
                        selector.unregister(proc.stdout)
                    elif not chunk:
                        raise LabError(f"iperf3 server exited: {said[proc].decode(errors='replace')}")

    def __exit__(self, *_exc) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def measure_all(pairs: list, duration: float, streams: int) -> None:
    """A transfer for every connected probe."""
    transfer_all(
        [(pair, probe) for pair in pairs for probe in pair.probes if probe.connected], duration, streams
    )


def transfer_all(wanted: list, duration: float, streams: int) -> None:
    """A transfer for each (pair, probe), one after another; its figure or its error lands on the probe."""
    if not wanted:
        return
    if not shutil.which("iperf3"):
        raise LabError(
            "iperf3 is not installed: `bondlab doctor --fix` installs it (or check with --no-bandwidth)"
        )
    with Servers([pair.destination.netns for pair, _ in wanted]):
        for pair, probe in wanted:
            argv = ["ip", "netns", "exec", pair.source.netns, "iperf3", "-c", probe.ip, "-B", probe.from_ip]
            argv += ["-t", f"{duration:g}", "-P", str(streams), "-J"]
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30)
            try:
                report = json.loads(proc.stdout)
                probe.error = report.get("error", "")
                if not probe.error:
                    probe.bits_per_second = transfer_rate(report)
            except (ValueError, KeyError):
                probe.error = f"iperf3 exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-200:]}"


def check(state, bandwidth: bool = True, duration: float = 1.0, streams: int = 4) -> list:
    """The connection check of a deployed lab: [(subnet, [Pair])]."""
    found = [(subnet, plan(endpoints)) for subnet, endpoints in networks(state).items()]
    every = [pair for _, pairs in found for pair in pairs]
    ping_all(every)
    if bandwidth:
        measure_all(every, duration, streams)
    return found


def rate_text(bits_per_second: float) -> str:
    """iperf3's way: `93.2 Mbits/sec`, `8.80 Gbits/sec`."""
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if bits_per_second >= scale:
            value = bits_per_second / scale
            return f"{value:.3g} {unit}bits/sec" if value < 100 else f"{value:.0f} {unit}bits/sec"
    return f"{bits_per_second:.0f} bits/sec"


def to_json(found: list) -> dict:
    return {
        "networks": [
            {
                "subnet": subnet,
                "pairs": [
                    {
                        "from": pair.source.name,
                        "to": pair.destination.name,
                        "connected": sum(p.connected for p in pair.probes),
                        "total": len(pair.probes),
                        "probes": [
                            {
                                "ip": p.ip,
                                "from_ip": p.from_ip,
                                "sent": p.sent,
                                "received": p.received,
                                "bits_per_second": p.bits_per_second,
                                **({"error": p.error} if p.error else {}),
                            }
                            for p in pair.probes
                        ],
                    }
                    for pair in pairs
                ],
            }
            for subnet, pairs in found
        ]
    }


def render(got: dict) -> str:
    """Seed 004's table, one per network: FROM, TO, CONNECTED/TOTAL, IPs, BANDWIDTHs."""
    blocks = []
    for network in got["networks"]:
        rows = []
        for pair in network["pairs"]:
            rates = [rate_text(p["bits_per_second"]) for p in pair["probes"] if p["bits_per_second"]]
            rows.append(
                (
                    pair["from"],
                    pair["to"],
                    f"{pair['connected']}/{pair['total']}",
                    "[" + " ".join(p["ip"] for p in pair["probes"]) + "]",
                    "[" + " ".join(rates) + "]",
                )
            )
        title = f"## Connection check: {network['subnet']}"
        rule = "#" * max(len(title), 43)
        header = ("FROM", "TO", "CONNECTED/TOTAL", "IPs", "BANDWIDTHs")
        blocks.append("\n".join([rule, title, rule, table(rows, header), rule]))
    return "\n\n".join(blocks) or "no network with two or more endpoints to check"
