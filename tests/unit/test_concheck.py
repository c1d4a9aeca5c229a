"""`bondlab concheck`'s pure parts: which endpoints form a network (a shared subnet), which pairs are
checked (every pod to every other endpoint; peers are destinations only), the figures read from ping and
iperf3, and seed 004's table."""

from __future__ import annotations

from types import SimpleNamespace

from bondlab import concheck
from bondlab.run import bandwidth
from bondlab.world.records import Peer, Pod


def _pod(seq: int, name: str, addresses: dict, namespace: str = "default") -> Pod:
    return Pod(
        seq, f"{namespace}/{name}", name, namespace, "node1", f"ns-{name}", "c", "u", addresses=addresses
    )


def _state() -> SimpleNamespace:
    pods = [
        _pod(0, "pod-a", {"bond0": ("10.56.217.10/24",), "net3": ("10.9.0.2/24",)}),
        _pod(1, "pod-b", {"bond0": ("10.56.217.20/24", "fd00::2/64")}),
        _pod(2, "pod-c", {"bond0": ("10.56.217.30/24",)}, namespace="other"),
    ]
    peers = [
        Peer("gw", "ns-gw", "core", ("10.56.217.1/24",)),
        Peer("lone", "ns-lone", "core", ("10.1.0.1/24",)),
    ]
    return SimpleNamespace(pods=pods, peers={p.name: p for p in peers})


def test_a_network_is_the_endpoints_sharing_a_subnet_and_lone_subnets_are_left_out():
    found = concheck.networks(_state())
    assert list(found) == ["10.56.217.0/24"]  # 10.9.0.0/24 and 10.1.0.0/24 have one endpoint each
    assert [(e.name, e.ips, e.pod) for e in found["10.56.217.0/24"]] == [
        ("pod-a", ("10.56.217.10",), True),
        ("pod-b", ("10.56.217.20",), True),  # IPv4 only: ping and iperf3 go by the IPv4 address
        ("other/pod-c", ("10.56.217.30",), True),  # not in default: its key
        ("gw", ("10.56.217.1",), False),
    ]


def test_every_pod_to_every_other_endpoint_and_peers_only_as_destinations():
    pairs = concheck.plan(concheck.networks(_state())["10.56.217.0/24"])
    assert [(p.source.name, p.destination.name) for p in pairs] == [
        ("pod-a", "pod-b"),
        ("pod-a", "other/pod-c"),
        ("pod-a", "gw"),
        ("pod-b", "pod-a"),
        ("pod-b", "other/pod-c"),
        ("pod-b", "gw"),
        ("other/pod-c", "pod-a"),
        ("other/pod-c", "pod-b"),
        ("other/pod-c", "gw"),
    ]
    assert [(p.ip, p.from_ip) for p in pairs[0].probes] == [("10.56.217.20", "10.56.217.10")]


def test_two_ips_in_one_network_pair_interface_with_interface():
    a = concheck.Endpoint("a", "ns-a", ("10.0.0.1", "10.0.0.2"))
    b = concheck.Endpoint("b", "ns-b", ("10.0.0.3", "10.0.0.4"))
    c = concheck.Endpoint("c", "ns-c", ("10.0.0.5",))
    pairs = concheck.plan([a, b, c])
    assert [(p.ip, p.from_ip) for p in pairs[0].probes] == [
        ("10.0.0.3", "10.0.0.1"),
        ("10.0.0.4", "10.0.0.2"),
    ]
    assert [(p.ip, p.from_ip) for p in pairs[-1].probes] == [
        ("10.0.0.3", "10.0.0.5"),
        ("10.0.0.4", "10.0.0.5"),
    ]


def test_ping_and_iperf3_figures():
    said = "--- 10.0.0.3 ping statistics ---\n3 packets transmitted, 2 received, 33% packet loss"
    assert concheck.ping_counts(said) == (3, 2)
    assert concheck.ping_counts("ping: connect: Network is unreachable") == (0, 0)
    report = {"end": {"sum_received": {"bits_per_second": 93.2e6}, "sum_sent": {"bits_per_second": 99e6}}}
    assert concheck.transfer_rate(report) == 93.2e6
    assert [concheck.rate_text(x) for x in (8.8e9, 93.24e6, 123.4e6, 512)] == [
        "8.8 Gbits/sec",
        "93.2 Mbits/sec",
        "123 Mbits/sec",
        "512 bits/sec",
    ]


def test_the_table_is_seed_004s():
    a, b = (
        concheck.Endpoint("pod-a", "ns-a", ("10.0.0.1",)),
        concheck.Endpoint("pod-b", "ns-b", ("10.0.0.2",)),
    )
    up = concheck.Pair(a, b, [concheck.Probe("10.0.0.2", "10.0.0.1", 3, 3, 47.5e6)])
    down = concheck.Pair(b, a, [concheck.Probe("10.0.0.1", "10.0.0.2", 3, 0)])
    got = concheck.to_json([("10.0.0.0/24", [up, down])])
    assert got["networks"][0]["pairs"][1] == {
        "from": "pod-b",
        "to": "pod-a",
        "connected": 0,
        "total": 1,
        "probes": [
            {"ip": "10.0.0.1", "from_ip": "10.0.0.2", "sent": 3, "received": 0, "bits_per_second": None}
        ],
    }
    lines = concheck.render(got).splitlines()
    assert lines[1] == "## Connection check: 10.0.0.0/24"
    assert lines[3].split() == ["FROM", "TO", "CONNECTED/TOTAL", "IPs", "BANDWIDTHs"]
    assert lines[4].split() == ["pod-a", "pod-b", "1/1", "[10.0.0.2]", "[47.5", "Mbits/sec]"]
    assert lines[5].split() == ["pod-b", "pod-a", "0/1", "[10.0.0.1]", "[]"]


def test_the_bandwidth_step_sends_from_the_address_on_the_destinations_subnet():
    addresses = ["10.9.0.2/24", "10.56.217.10/24"]
    assert bandwidth._source_address(addresses, "10.56.217.30") == "10.56.217.10"
    assert bandwidth._source_address(addresses, "192.0.2.1") == "10.9.0.2"  # none there: the first
    assert bandwidth._source_address(["10.56.217.1"], "10.56.217.30") == "10.56.217.1"  # a peer's: no prefix
