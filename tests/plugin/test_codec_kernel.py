"""The plugin's rtnetlink codec against the kernel, with two independent readers: pyroute2 and `ip -d -j`.

What the codec writes (bonds with every option, addresses, routes, aliases, names) is read back by pyroute2
and iproute2; what pyroute2 and iproute2 make is read back by the codec.  All in throwaway netns.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest

from bondcni import netlink
from bondcni.errors import CniError

from .conftest import sh

pytestmark = pytest.mark.kernel

# iproute2 prints these options by name; the kernel's value is the index (drivers/net/bonding/bond_options.c).
NAMES = {
    "mode": [
        "balance-rr",
        "active-backup",
        "balance-xor",
        "broadcast",
        "802.3ad",
        "balance-tlb",
        "balance-alb",
    ],
    "arp_validate": ["none", "active", "backup", "all", "filter", "filter_active", "filter_backup"],
    "arp_all_targets": ["any", "all"],
    "primary_reselect": ["always", "better", "failure"],
    "fail_over_mac": ["none", "active", "follow"],
    "xmit_hash_policy": ["layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac"],
    "ad_lacp_rate": ["slow", "fast"],
    "ad_select": ["stable", "bandwidth", "count"],
    "ad_lacp_active": ["off", "on"],
    "coupled_control": ["off", "on"],
}
# iproute2's name when it differs
IP_KEYS = {"peer_notif_delay": "peer_notify_delay", "missed_max": "arp_missed_max"}
RTN_LOCAL = 2
IP_TOO_OLD = {"coupled_control"}  # Debian 12's iproute2 (6.1) does not print these

# Every option the plugin's config can set (config.BondOptions), and every other writable IFLA_BOND_*.
BOND_CASES = {
    "active-backup-mii": dict(
        mode=1, fail_over_mac=1, miimon=100, updelay=200, downdelay=300, peer_notif_delay=400,
        primary_reselect=2, num_peer_notif=3, all_slaves_active=1, min_links=1, resend_igmp=4,
        lp_interval=2, use_carrier=1, missed_max=5,
    ),
    "active-backup-arp": dict(
        mode=1, arp_interval=250, arp_ip_target=("10.0.0.1", "10.0.0.2", "192.168.7.9"), arp_validate=3,
        arp_all_targets=1, ns_ip6_target=("fd00::1", "fd00::2"), fail_over_mac=2,
    ),
    "802.3ad": dict(
        mode=4, miimon=50, ad_lacp_rate=1, ad_select=1, xmit_hash_policy=1, min_links=2,
        ad_actor_sys_prio=100, ad_user_port_key=7, ad_actor_system="02:00:00:00:00:aa", ad_lacp_active=0,
        coupled_control=0,
    ),
    "balance-tlb": dict(mode=5, miimon=100, tlb_dynamic_lb=0, xmit_hash_policy=2),
    "balance-alb": dict(mode=6, miimon=100, tlb_dynamic_lb=1),
    "balance-rr": dict(mode=0, miimon=100, packets_per_slave=3),
    "balance-xor": dict(mode=2, miimon=100, xmit_hash_policy=4),
    "broadcast": dict(mode=3, miimon=100),
}  # fmt: skip


@pytest.fixture
def ns():
    """A throwaway netns (and a far one for veth peers): (name, fd, far name)."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    tag = uuid.uuid4().hex[:6]
    name, far = f"cdc-{tag}", f"cdf-{tag}"
    sh("ip", "netns", "add", name)
    sh("ip", "netns", "add", far)
    sh("ip", "-n", name, "link", "set", "lo", "up")
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        yield name, fd, far
    finally:
        os.close(fd)
        sh("ip", "netns", "del", name, check=False)
        sh("ip", "netns", "del", far, check=False)


@pytest.fixture
def handle(ns):
    with netlink.Handle(ns[1], "test") as h:
        yield h


@pytest.fixture
def ipr(ns):
    from pyroute2 import IPRoute

    with netlink.entered(ns[1]):
        route = IPRoute()
    try:
        yield route
    finally:
        route.close()


def ip_json(ns_name: str, *argv: str):
    return json.loads(sh("ip", "-n", ns_name, "-d", "-j", *argv).stdout or "[]")


def ip_info_data(ns_name: str, name: str) -> dict:
    return ip_json(ns_name, "link", "show", "dev", name)[0]["linkinfo"]["info_data"]


def from_ip(key: str, value):
    """iproute2's JSON value of a bond option in the codec's terms."""
    if key in NAMES and isinstance(value, str):
        return NAMES[key].index(value)
    if isinstance(value, bool):
        return int(value)
    return value


def pyroute2_bond(ipr, index: int) -> dict:
    data = ipr.get_links(index)[0].get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA")
    pairs = ((nla[0], nla[1]) for nla in data["attrs"])
    bond = {
        name[len("IFLA_BOND_") :].lower(): value for name, value in pairs if name.startswith("IFLA_BOND_")
    }
    return bond


def expected(value):
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("case", sorted(BOND_CASES))
def test_bond_made_by_the_codec_reads_back_the_same_in_pyroute2_and_iproute2(ns, handle, ipr, case):
    options = BOND_CASES[case]
    bond = handle.create_bond("b0", options, 1400)
    assert (bond.name, bond.kind, bond.mtu, bond.up) == ("b0", "bond", 1400, False)
    ours = handle.bond_options(bond.index)
    theirs = pyroute2_bond(ipr, bond.index)
    ip_data = ip_info_data(ns[0], "b0")
    for key, value in options.items():
        assert ours[key] == expected(value), key
        ip_key = IP_KEYS.get(key, key)
        if ip_key in ip_data:
            assert from_ip(key, ip_data[ip_key]) == expected(value), (key, ip_data)
        else:
            assert key in IP_TOO_OLD, (key, ip_data)
        if key in theirs:  # pyroute2 0.9 decodes IFLA_BOND_* up to TLB_DYNAMIC_LB (27)
            assert theirs[key] == expected(value), key
    for key, value in theirs.items():  # and everything else the kernel reports, too
        if key == "ad_info":
            assert ours["ad_info"] == {
                n[len("IFLA_BOND_AD_INFO_") :].lower(): v for n, v in value["attrs"]
            }  # fmt: skip
        else:
            assert ours[key] == value, key


def test_primary_set_by_the_codec_is_an_ifindex_everywhere(ns, handle, ipr):
    bond = handle.create_bond("b0", {"mode": 1, "miimon": 100}, None)
    sh("ip", "-n", ns[0], "link", "add", "d0", "type", "dummy")
    slave = handle.get(name="d0")
    handle.enslave(slave.index, bond.index, "d0")
    handle.set_bond_option(bond.index, "primary", slave.index)
    assert handle.bond_options(bond.index)["primary"] == slave.index
    assert pyroute2_bond(ipr, bond.index)["primary"] == slave.index
    assert ip_info_data(ns[0], "b0")["primary"] == "d0"
    assert handle.get(index=slave.index).master == bond.index
    handle.release(slave.index, "d0")
    assert handle.get(name="d0").master == 0


def test_bond_made_by_pyroute2_reads_back_in_the_codec(handle, ipr):
    options = dict(bond_mode=4, bond_miimon=100, bond_ad_select=2, bond_min_links=1, bond_xmit_hash_policy=2)
    ipr.link("add", ifname="pb0", kind="bond", mtu=1300, **options)
    msg = ipr.link("get", ifname="pb0")[0]
    info = handle.get(name="pb0")
    assert (info.index, info.name, info.mtu, info.kind) == (msg["index"], "pb0", 1300, "bond")
    assert info.mac == msg.get_attr("IFLA_ADDRESS")
    ours = handle.bond_options(info.index)
    for key, value in pyroute2_bond(ipr, info.index).items():
        if key != "ad_info":
            assert ours[key] == value, key
    assert (ours["mode"], ours["ad_select"], ours["xmit_hash_policy"]) == (4, 2, 2)


def test_links_match_pyroute2_and_iproute2(ns, handle, ipr):
    sh(
        "ip",
        "-n",
        ns[0],
        "link",
        "add",
        "v0",
        "mtu",
        "1280",
        "type",
        "veth",
        "peer",
        "name",
        "v0p",
        "netns",
        ns[2],
    )
    sh("ip", "-n", ns[0], "link", "set", "v0", "alias", "tenant: blue", "up")
    ours = {link.name: link for link in handle.links()}
    theirs = {m.get_attr("IFLA_IFNAME"): m for m in ipr.get_links()}
    assert set(ours) == set(theirs) == {link["ifname"] for link in ip_json(ns[0], "link", "show")}
    for name, msg in theirs.items():
        link = ours[name]
        assert link.index == msg["index"]
        if len(link.mac) == 17:  # pyroute2 reads 6 bytes of any address (sit0's is 4)
            assert link.mac == msg.get_attr("IFLA_ADDRESS")
        assert link.mtu == msg.get_attr("IFLA_MTU")
        assert link.up == bool(msg["flags"] & 1)
        assert link.master == (msg.get_attr("IFLA_MASTER") or 0)
        assert link.link_netnsid == msg.get_attr("IFLA_LINK_NETNSID")
    ip_v0 = ip_json(ns[0], "link", "show", "dev", "v0")[0]
    v0 = ours["v0"]
    assert (v0.kind, v0.alias, v0.mtu) == ("veth", "tenant: blue", 1280)
    assert v0.link_netnsid == ip_v0["link_netnsid"] and v0.link_netnsid is not None
    assert ours["lo"].link_netnsid is None and ours["lo"].alias == ""


def test_rename_alias_mac_mtu_state_and_move(ns, handle, ipr):
    sh("ip", "-n", ns[0], "link", "add", "d1", "type", "dummy")
    index = handle.get(name="d1").index
    handle.rename(index, "d1-new")
    handle.set_alias(index, "bondcni: owned")
    handle.set(index, "test", address="02:00:00:00:01:02", mtu=1234)
    handle.set_up(index, True, "d1-new")
    got = ip_json(ns[0], "link", "show", "dev", "d1-new")[0]
    assert (got["ifname"], got["ifalias"], got["address"], got["mtu"]) == (
        "d1-new", "bondcni: owned", "02:00:00:00:01:02", 1234
    )  # fmt: skip
    assert "UP" in got["flags"]
    handle.set_alias(index, "")
    assert (
        handle.get(index=index).alias == ""
        and "ifalias" not in ip_json(ns[0], "link", "show", "dev", "d1-new")[0]
    )
    far_fd = os.open(f"/var/run/netns/{ns[2]}", os.O_RDONLY)
    try:
        handle.move(index, far_fd, "d1-new")
    finally:
        os.close(far_fd)
    assert handle.get(name="d1-new") is None
    assert ip_json(ns[2], "link", "show", "dev", "d1-new")[0]["ifname"] == "d1-new"


def test_addresses_and_routes_made_by_the_codec(ns, handle, ipr):
    sh("ip", "-n", ns[0], "link", "add", "d2", "type", "dummy")
    sh("ip", "-n", ns[0], "link", "set", "d2", "up")
    index = handle.get(name="d2").index
    handle.sysctl("net/ipv6/conf/d2/disable_ipv6", "0")
    handle.add_address(index, "10.9.0.5/24")
    handle.add_address(index, "fd00:9::5/64")
    handle.add_route(index, "0.0.0.0/0", "10.9.0.1")
    handle.add_route(index, "10.10.0.0/16", None)
    handle.add_route(index, "fd00:a::/48", "fd00:9::1")
    ip_addrs = {
        f"{a['local']}/{a['prefixlen']}" for a in ip_json(ns[0], "addr", "show", "dev", "d2")[0]["addr_info"]
    }
    py_addrs = {f"{m.get_attr('IFA_ADDRESS')}/{m['prefixlen']}" for m in ipr.get_addr(index=index)}
    ours = set(handle.addresses(index))
    assert {"10.9.0.5/24", "fd00:9::5/64"} <= ours
    assert ours == ip_addrs == py_addrs
    for family in (4, 6):
        ip_routes = ip_json(ns[0], f"-{family}", "route", "show", "table", "main", "dev", "d2")
        ip_set = {(r["dst"], r.get("gateway")) for r in ip_routes}
        local = {r["dst"] for r in handle.all_routes() if r["type"] == RTN_LOCAL}  # ip leaves these out
        mine = [
            r for r in handle.routes(index) if (":" in r["dst"]) == (family == 6) and r["dst"] not in local
        ]
        ours_set = {(r["dst"], r["gw"]) for r in mine}
        normal = {
            ("default" if d.endswith("/0") else d.replace("/32", "").replace("/128", ""), g)
            for d, g in ours_set
        }
        assert normal == ip_set, (family, ours_set, ip_set)
    py_routes = {
        (f"{m.get_attr('RTA_DST') or ('0.0.0.0' if m['family'] == 2 else '::')}/{m['dst_len']}",
         m.get_attr("RTA_GATEWAY"))
        for fam in (2, 10) for m in ipr.get_routes(family=fam, oif=index, table=254)
    }  # fmt: skip
    assert {(r["dst"], r["gw"]) for r in handle.routes(index)} == py_routes
    assert ("0.0.0.0/0", "10.9.0.1") in py_routes and ("fd00:a::/48", "fd00:9::1") in py_routes


def ip_route_key(route: dict, family: int) -> tuple:
    """(dst "NET/PLEN", table number, gateway) of one `ip -j route show table all` entry."""
    dst = route["dst"]
    if dst == "default":
        dst = "0.0.0.0/0" if family == 4 else "::/0"
    elif "/" not in dst:
        dst += "/32" if family == 4 else "/128"
    table = {"main": 254, "local": 255, "default": 253}.get(route.get("table", "main"))
    return dst, table if table is not None else int(route["table"]), route.get("gateway")


def test_address_and_route_dumps_match_iproute2_everywhere(ns, handle):
    sh("ip", "-n", ns[0], "link", "add", "d3", "type", "dummy")
    sh("ip", "-n", ns[0], "link", "set", "d3", "up")
    sh("ip", "-n", ns[0], "addr", "add", "10.11.0.2/24", "dev", "d3")
    sh("ip", "-n", ns[0], "route", "add", "10.12.0.0/16", "via", "10.11.0.1", "dev", "d3", "table", "100")
    sh("ip", "-n", ns[0], "route", "add", "default", "via", "10.11.0.1", "dev", "d3")
    d3 = handle.get(name="d3").index
    detail = handle.addresses_detail()
    ip_all = ip_json(ns[0], "addr", "show")
    ip_set = {(i["ifindex"], f"{a['local']}/{a['prefixlen']}") for i in ip_all for a in i["addr_info"]}
    assert {(a["index"], a["address"]) for a in detail} == ip_set
    assert {"index": d3, "address": "10.11.0.2/24", "family": netlink.AF_INET, "scope": 0} in detail
    assert handle.addresses_detail(d3) == [a for a in detail if a["index"] == d3]
    routes = handle.all_routes()
    theirs = {
        ip_route_key(r, f) for f in (4, 6) for r in ip_json(ns[0], f"-{f}", "route", "show", "table", "all")
    }
    assert {(r["dst"], r["table"], r["gw"]) for r in routes} == theirs
    assert [r["oif"] for r in routes if r["dst"] == "0.0.0.0/0"] == [
        d3
    ]  # which device holds the default route
    assert any(r["table"] == 255 and r["dst"] == "10.11.0.2/32" for r in routes)  # the local table too


def test_kernel_errors_map_to_cni_codes(ns, handle):
    assert handle.get(name="nope") is None
    assert handle.get(index=999999) is None
    with pytest.raises(CniError) as exc:  # longer than IFNAMSIZ: ERANGE, not a missing link
        handle.get(name="x" * 40)
    assert exc.value.code == 101 and "Numerical result out of range" in exc.value.msg
    handle.create_bond("b1", {"mode": 0}, None)
    with pytest.raises(CniError) as exc:
        handle.create_bond("b1", {"mode": 0}, None)
    assert exc.value.code == 101 and exc.value.msg.startswith(
        "creating bond b1 (in the test netns): File exists"
    )
    with pytest.raises(CniError) as exc:
        handle.set(handle.get(name="b1").index, "setting mtu", mtu=10)
    assert exc.value.code == 101 and "Invalid argument" in exc.value.msg
    with pytest.raises(CniError) as exc:
        handle.delete(999999, "ghost")
    assert exc.value.code == 101 and "No such device" in exc.value.msg


def test_a_handle_stays_bound_to_its_netns(ns, handle):
    host = netlink.Handle(None, "host")
    try:
        assert handle.get(name="lo") is not None
        sh("ip", "-n", ns[0], "link", "add", "only-here", "type", "dummy")
        assert handle.get(name="only-here") is not None
        assert host.get(name="only-here") is None
    finally:
        host.close()
