"""`hashed` without a kernel: /proc/net/bonding (bond_procfs.c's format) to the usable slaves in the bond's
order (bondlab.run.hashed), and the per-session verdict (bondlab.traffic.rules)."""

from __future__ import annotations

import pytest

from bondlab.run.hashed import parse_proc
from bondlab.traffic import rules
from bondlab.traffic.verdict import ExpectationFailed, MeasurementError
from bondlab.traffic.xmit_hash import BondView

XOR = """Ethernet Channel Bonding Driver: v6.12.117

Bonding Mode: load balancing (xor)
Transmit Hash Policy: layer3+4 (1)
MII Status: up
MII Polling Interval (ms): 100

Slave Interface: net2
MII Status: up
Speed: 10000 Mbps
Link Failure Count: 0

Slave Interface: net1
MII Status: down
Speed: 10000 Mbps
Link Failure Count: 1
"""

LACP = """Bonding Mode: IEEE 802.3ad Dynamic link aggregation
Transmit Hash Policy: layer2+3 (2)
MII Status: up

802.3ad info
LACP active: on
Active Aggregator Info:
\tAggregator ID: 2
\tNumber of ports: 1

Slave Interface: net1
MII Status: up
Aggregator ID: 1

Slave Interface: net2
MII Status: up
Aggregator ID: 2
"""


def test_proc_gives_the_policy_and_the_slaves_in_the_bonds_order_usable_when_mii_up():
    view = parse_proc(XOR, "bond0")
    assert view == BondView("bond0", "layer3+4", (("net2", True), ("net1", False)))
    assert view.usable == ["net2"]
    assert parse_proc(XOR.replace("MII Status: down", "MII Status: up"), "bond0").usable == ["net2", "net1"]
    assert parse_proc(XOR, "bond0", frozenset({"net2"})).usable == []  # netlink: net2 is a backup


def test_in_802_3ad_only_the_ports_of_the_active_aggregator_are_usable():
    view = parse_proc(LACP, "bond0")
    assert (view.policy, view.usable) == ("layer2+3", ["net2"])
    assert parse_proc(LACP.replace("Active Aggregator Info:\n\tAggregator ID: 2", ""), "bond0").usable == []


def test_a_bond_that_does_not_hash_is_an_error_naming_its_mode():
    with pytest.raises(ExpectationFailed, match=r"bond0 does not hash \(fault-tolerance \(active-backup\)\)"):
        parse_proc("Bonding Mode: fault-tolerance (active-backup)\nMII Status: up\n", "bond0")


VIEW = BondView("bond0", "layer3+4", (("net1", True), ("net2", True)))


def sessions_hashed(*args) -> str:
    """The rule's verdict as pytest sees it: what a pass saw, else the verdict raised (its kind: its type)."""
    return rules.sessions_hashed(*args).settled()


PORTS = [20064, 20065, 20066]


def test_sessions_on_their_predicted_slaves_pass_and_count_per_slave():
    predicted = ["p/net1", "p/net2", "p/net1"]
    said = sessions_hashed(
        "p -> gw", "layer3+4", VIEW, predicted, [["p/net1"], ["p/net2"], ["p/net1"]], PORTS
    )
    assert said == "p -> gw 3 sessions each on the slave layer3+4 picks: p/net1 2, p/net2 1"


def test_a_session_elsewhere_moved_or_unseen_fails_naming_each_with_the_bonds_own_policy():
    predicted = ["p/net1", "p/net2", "p/net1"]
    carried = [["p/net2"], ["p/net1", "p/net2"], []]
    with pytest.raises(ExpectationFailed) as got:
        sessions_hashed("p -> gw", "layer2", VIEW, predicted, carried, PORTS)
    assert str(got.value) == (
        "p -> gw: 3 of 3 sessions not on the slave layer2 picks (usable: net1, net2; the bond's own policy: "
        "layer3+4): session 0 (port 20064) p/net1, carried by p/net2; session 1 (port 20065) p/net2, "
        "carried by p/net1 and p/net2; session 2 (port 20066) p/net1, carried by none"
    )


def test_sessions_a_stalled_sender_left_without_probes_are_a_measurement_error_not_a_miss():
    predicted = ["p/net1", "p/net2", "p/net1"]
    with pytest.raises(
        MeasurementError, match=r"p -> gw: 2 of 3 sessions carried no probe: .* stalled 860 ms"
    ):
        sessions_hashed("p -> gw", "layer3+4", VIEW, predicted, [["p/net1"], [], []], PORTS, 860.0)
    with pytest.raises(ExpectationFailed) as got:  # one on the wrong slave: a miss, stall or not
        sessions_hashed("p -> gw", "layer3+4", VIEW, predicted, [["p/net2"], [], []], PORTS, 860.0)
    assert not isinstance(got.value, MeasurementError)
