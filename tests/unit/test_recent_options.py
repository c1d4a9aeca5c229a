"""The bonding options added since kernel 5.15: parsed into kernel terms, refused with code 7 naming the
field, and the code-101 explanation for a kernel that is too old."""

import pytest

from bondcni import errors, recent_options
from bondcni import os as plugin_os
from bondcni.errors import CniError

from .test_config import DROP, base, err, p

ARP = {"miimon": DROP, "arpInterval": 100, "arpIpTarget": ["192.0.2.1"]}
NS_ONLY = {"miimon": DROP, "arpInterval": 100}
LACP = {"mode": "802.3ad"}


@pytest.mark.parametrize(
    "extra,attr,want",
    [
        (dict(ARP, arpMissedMax=1), "missed_max", 1),
        (dict(ARP, arpMissedMax=255), "missed_max", 255),
        (dict(NS_ONLY, nsIp6Target=["2001:DB8::254"]), "ns_ip6_target", ("2001:db8::254",)),
        (dict(NS_ONLY, nsIp6Target="fe80::1, 2001:db8::1"), "ns_ip6_target", ("fe80::1", "2001:db8::1")),
        (dict(ARP, nsIp6Target=["fe80::1"], arpValidate="all"), "ns_ip6_target", ("fe80::1",)),
        (dict(LACP, lacpActive=False), "ad_lacp_active", 0),
        (dict(LACP, lacpActive="on"), "ad_lacp_active", 1),
        (dict(LACP, coupledControl=False), "coupled_control", 0),
        (dict(LACP, coupledControl=1), "coupled_control", 1),
        (dict(LACP, adActorSysPrio=100), "ad_actor_sys_prio", 100),
        (dict(LACP, adUserPortKey=1023), "ad_user_port_key", 1023),
        (dict(LACP, adActorSystem="02:AA:00:00:00:01"), "ad_actor_system", "02:aa:00:00:00:01"),
        (dict(LACP, broadcastNeighbor=True), "broadcast_neigh", 1),
        (dict(LACP, adSelect="actor_port_prio"), "ad_select", 3),
    ],
)
def test_values_in_kernel_terms(extra, attr, want):
    opts = p(base(**extra)).options
    assert getattr(opts, attr) == want and opts.configured()[attr] == want


def test_not_configured_is_not_sent():
    sent = p(base()).options.configured()
    assert not set(sent) & {"missed_max", "ns_ip6_target", "ad_lacp_active", "coupled_control"}


@pytest.mark.parametrize(
    "extra,message",
    [
        (dict(ARP, arpMissedMax=0), "arpMissedMax: expected an integer from 1 to 255, got 0"),
        ({"arpMissedMax": 3}, "arpMissedMax: needs arpInterval > 0, got arpInterval None"),
        ({"nsIp6Target": ["fe80::1"]}, "nsIp6Target: needs arpInterval > 0, got arpInterval None"),
        (
            dict(NS_ONLY, nsIp6Target=["192.0.2.1"]),
            'nsIp6Target[0]: expected an IPv6 address, got "192.0.2.1"',
        ),
        (
            dict(NS_ONLY, nsIp6Target=["ff02::1"]),
            'nsIp6Target[0]: expected a unicast IPv6 address (not ::, ::1 or multicast), got "ff02::1"',
        ),
        (
            dict(NS_ONLY, nsIp6Target=["fe80::1", "FE80::1"]),
            'nsIp6Target[1]: expected an address not listed before, got "FE80::1"',
        ),
        (dict(NS_ONLY, nsIp6Target=[]), "nsIp6Target: expected a list of 1 to 16 IPv6 addresses, got []"),
        (
            NS_ONLY,
            "arpIpTarget: expected 1 to 16 IPv4 addresses (or nsIp6Target IPv6 ones) when arpInterval is "
            "set, got []",
        ),
        (
            {"lacpActive": False},
            "lacpActive: only supported in 802.3ad mode (the kernel refuses it in others), got mode "
            '"active-backup"',
        ),
        (
            dict(LACP, lacpActive="passive"),
            'lacpActive: expected true or false ("on"/"off", 1/0), got "passive"',
        ),
        (dict(LACP, adActorSysPrio=0), "adActorSysPrio: expected an integer from 1 to 65535, got 0"),
        (dict(LACP, adUserPortKey=1024), "adUserPortKey: expected an integer from 0 to 1023, got 1024"),
        (
            dict(LACP, adActorSystem="01:00:5e:00:00:01"),
            'adActorSystem: expected a unicast MAC address (first octet even), got "01:00:5e:00:00:01"',
        ),
        (
            dict(LACP, adActorSystem="02:00"),
            'adActorSystem: expected a MAC address like "02:00:00:00:00:01", got "02:00"',
        ),
        (
            {"mode": "balance-rr", "links": [{"name": "net1", "prio": 1}, {"name": "net2"}]},
            "links[0].prio: only supported in active-backup, balance-tlb, balance-alb mode (the kernel "
            'refuses it in others), got mode "balance-rr"',
        ),
        (
            {"links": [{"name": "net1", "prio": 2**31}, {"name": "net2"}]},
            f"links[0].prio: expected an integer from {-(2**31)} to {2**31 - 1}, got {2**31}",
        ),
        (
            {"links": [{"name": "net1", "adActorPortPrio": 1}, {"name": "net2"}]},
            "links[0].adActorPortPrio: only supported in 802.3ad mode (the kernel refuses it in others), got "
            'mode "active-backup"',
        ),
    ],
)
def test_errors_name_the_field(extra, message):
    e = err(base(**extra))
    assert (e.code, e.msg) == (errors.INVALID_CONFIG, message)


def test_primary_reselect_applies_to_link_prios_without_primary():
    conf = p(base(primaryReselect="failure", links=[{"name": "net1", "prio": 0}, {"name": "net2"}]))
    assert conf.options.primary_reselect == 2 and conf.primary is None


def test_link_options_are_kept_per_link():
    conf = p(base(links=[{"name": "net1", "prio": -50}, {"pciAddress": "0000:03:02.0", "prio": 10}]))
    assert [dict(lk.slave_options) for lk in conf.links] == [{"prio": -50}, {"prio": 10}]
    lacp = p(base(mode="802.3ad", links=[{"name": "a", "adActorPortPrio": 1000}, {"name": "b"}]))
    assert dict(lacp.links[0].slave_options) == {"actor_port_prio": 1000}


def running(monkeypatch, release: str) -> None:
    monkeypatch.setattr(plugin_os, "uname", lambda: type("Uname", (), {"release": release})())


def test_too_old_names_the_option_and_the_release(monkeypatch):
    running(monkeypatch, "6.12.118")
    found = recent_options.too_old("broadcast_neigh", 1)
    assert isinstance(found, CniError) and found.code == errors.KERNEL_REFUSED
    assert (
        found.msg == "broadcastNeighbor: this node's kernel (6.12.118) does not have it; Linux 6.17 added it"
    )
    assert recent_options.too_old("ad_select", 1) is None and recent_options.too_old("miimon", 1) is None


def test_a_refusal_is_explained_by_the_newest_option_the_kernel_lacks(monkeypatch):
    running(monkeypatch, "6.12.118-amd64")
    conf = p(base(mode="802.3ad", adSelect="actor_port_prio", coupledControl=False))
    found = recent_options.newest_missing(conf.options.configured(), conf.links)
    assert found.msg.startswith('adSelect "actor_port_prio": this node\'s kernel (6.12.118-amd64)')
    assert found.msg.endswith("Linux 6.18 added it")
    older = p(base(mode="802.3ad", coupledControl=False, adSelect="count"))
    assert recent_options.newest_missing(older.options.configured(), older.links) is None
