"""The bonding driver's transmit hash (bondlab.traffic.xmit_hash) on known inputs, worked by hand from
6.12 bond_main.c (bond_eth_hash, bond_ip_hash, __bond_xmit_hash, bond_vlan_srcmac_hash): the folding, the
bit layer3+4 drops, the host-order loads of header words, and `hash % count` over the usable slaves. That the
kernel agrees is shown in the lab VM (tests/lab/test_hash_policy.py: `hashed` with the bond's own policy)."""

from __future__ import annotations

import itertools

import pytest

from bondlab.traffic.wire import PORT, session_port
from bondlab.traffic.xmit_hash import POLICIES, Frame, fold, predict, slave_index, xmit_hash

POD, GW = "02:00:00:00:00:02", "02:00:00:00:00:01"
# 10.0.0.2:20064 -> 10.0.0.1:47001 (ports 0x4e60, 0xb799)
UDP = Frame(POD, GW, "10.0.0.2", "10.0.0.1", 20064, 47001)


def test_layer2_is_the_last_mac_bytes_and_the_ethertype_unfolded():
    assert xmit_hash("layer2", UDP) == 0x02 ^ 0x01 ^ 0x0800 == 0x803
    assert slave_index("layer2", UDP, 2) == 1
    assert slave_index("layer2", UDP, 3) == 0x803 % 3 == 2


def test_layer2p3_folds_the_addresses_loaded_in_host_order():
    # little-endian: 10.0.0.2 -> 0x0200000a, 10.0.0.1 -> 0x0100000a; ^ 0x803 = 0x03000803
    # fold: ^ (h >> 16) = 0x03000b03; ^ (h >> 8) = 0x03030b08
    assert xmit_hash("layer2+3", UDP, "little") == 0x03030B08
    # big-endian: 0x0a000002 ^ 0x0a000001 ^ 0x803 = 0x800; fold: 0x808
    assert xmit_hash("layer2+3", UDP, "big") == 0x808
    assert fold(0x03000803) == 0x03030B08


def test_layer3p4_hashes_the_ports_word_and_drops_the_lowest_bit():
    # ports bytes 4e 60 b7 99 -> 0x99b7604e; ^ 0x03000000 = 0x9ab7604e; fold: 0x9a2d4d03; >> 1
    assert xmit_hash("layer3+4", UDP, "little") == 0x9A2D4D03 >> 1 == 0x4D16A681
    assert slave_index("layer3+4", UDP, 2, "little") == 1
    # without ports (not TCP/UDP, or a fragment): addresses only
    assert xmit_hash("layer3+4", Frame(POD, GW, "10.0.0.2", "10.0.0.1", ports=False), "little") == (
        fold(0x03000000) >> 1
    )


def test_vlan_srcmac_is_vendor_xor_device_xor_vlan_of_the_source_mac_only():
    frame = Frame("00:1b:21:aa:bb:cc", GW, "10.0.0.2", "10.0.0.1", 20064, 47001)
    assert xmit_hash("vlan+srcmac", frame) == 0x001B21 ^ 0xAABBCC == 0xAAA0ED
    tagged = Frame("00:1b:21:aa:bb:cc", "02:00:00:00:00:09", "10.0.0.9", "10.0.0.1", 1, 2, vlan=100)
    assert xmit_hash("vlan+srcmac", tagged) == 0xAAA0ED ^ 100


def test_ipv6_addresses_enter_as_the_xor_of_their_words():
    frame = Frame(POD, GW, "fd00::2", "fd00::1", 20064, 47001)
    # words of fd00::2: 0x000000fd ^ 0 ^ 0 ^ 0x02000000; eth: 2 ^ 1 ^ 0x86dd = 0x86de
    assert xmit_hash("layer2+3", frame, "little") == fold(0x86DE ^ 0x020000FD ^ 0x010000FD) == 0x0303855B
    assert xmit_hash("layer2", frame) == 0x86DE


def test_a_frame_that_is_not_ip_hashes_as_layer2_under_every_policy_but_vlan_srcmac():
    arp = Frame(POD, GW)
    for policy in POLICIES:
        if policy != "vlan+srcmac":
            assert xmit_hash(policy, arp) == 0x02 ^ 0x01 ^ 0x0806


def test_encap_policies_equal_their_plain_counterparts_on_plain_udp():
    for sport in range(20000, 20064):
        frame = Frame(POD, GW, "10.56.217.2", "10.56.217.1", sport, 47001)
        assert xmit_hash("encap2+3", frame) == xmit_hash("layer2+3", frame)
        assert xmit_hash("encap3+4", frame) == xmit_hash("layer3+4", frame)


def test_predict_indexes_the_usable_slaves_in_bond_order():
    assert predict("layer2", UDP, ["net1", "net2"]) == "net2"  # 0x803 % 2 = 1
    assert predict("layer2", UDP, ["net1", "net2", "net3"]) == "net3"  # 0x803 % 3 = 2
    assert predict("layer2", UDP, ["net2"]) == "net2"
    with pytest.raises(ValueError, match="no usable slave"):
        predict("layer2", UDP, [])
    with pytest.raises(ValueError, match="unknown xmit_hash_policy 'layer5'"):
        xmit_hash("layer5", UDP)


# -- the traffic the balance-xor scenarios send tells the policies apart whatever the bond's MAC -----------
PEERS = {"gw": ("10.56.217.1", "02:62:6c:00:00:01"), "far": ("10.56.217.253", "02:62:6c:00:00:02")}
PEERS["near"] = ("10.56.217.252", "02:62:6c:00:00:04")  # as scenarios/lib/two-pf-three-peers.yaml


def _slaves(policy: str, bond_mac: str, pod_ip: str) -> list:
    """Slave index (of 2) of every session of every flow (16 source ports to each peer)."""
    return [
        slave_index(policy, Frame(bond_mac, mac, pod_ip, ip, session_port(flow, i), PORT), 2)
        for flow, (ip, mac) in enumerate(PEERS.values(), start=1)
        for i in range(16)
    ]


@pytest.mark.parametrize("pod_ip", ["10.56.217.2", "10.56.217.3"])  # host-local: .2, .3, ... round-robin
def test_the_scenarios_traffic_tells_every_two_policies_apart_but_encap_from_plain(pod_ip):
    macs = ["02:00:00:00:00:00", "02:00:00:00:00:01", "5a:11:2f:03:c8:ee", "ae:01:02:03:04:05"]
    alike = {frozenset(("layer2+3", "encap2+3")), frozenset(("layer3+4", "encap3+4"))}
    for mac in macs:
        for a, b in itertools.combinations(POLICIES, 2):
            same = _slaves(a, mac, pod_ip) == _slaves(b, mac, pod_ip)
            assert same == (frozenset((a, b)) in alike), (mac, pod_ip, a, b)
