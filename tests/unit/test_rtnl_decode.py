"""Decoding real kernel answers (recorded once on the lab kernel by rtnl_fixtures/record.py, kept as hex):
a bond with many options, an 802.3ad bond, a veth with an alias and a peer in another netns, a link dump,
an address dump, a route dump and an error with the kernel's reason.  pyroute2 decodes the same bytes as an
independent reader.  The Handle's exchange loop (sequence numbers, multipart, interrupted dumps, errors) is
driven with the same datagrams through a replaying socket: pure logic, no kernel needed."""

from __future__ import annotations

import errno
import os
import struct
from pathlib import Path

import pytest

from bondcni import netlink, rtnl
from bondcni.errors import CniError

FIXTURES = Path(__file__).resolve().parent / "rtnl_fixtures"


def datagrams(name: str) -> list:
    return [bytes.fromhex(line) for line in (FIXTURES / f"{name}.hex").read_text().split()]


def bodies(name: str, kind: int) -> list:
    return [body for data in datagrams(name) for k, _, _, body in rtnl.messages(data) if k == kind]


def one_link(name: str) -> bytes:
    (body,) = bodies(name, rtnl.RTM_NEWLINK)
    return body


def pyroute2_link(body: bytes):
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    msg = ifinfmsg(struct.pack("=IHHII", 16 + len(body), rtnl.RTM_NEWLINK, 0, 0, 0) + body)
    msg.decode()
    return msg


def test_active_backup_bond_with_many_options():
    body = one_link("link-bond-active-backup")
    info = rtnl.link(body)
    assert (info.name, info.kind, info.up) == ("ab0", "bond", True)
    got = rtnl.bond_options(body)
    assert got["mode"] == 1
    assert got["arp_interval"] == 200
    assert got["arp_ip_target"] == ["10.0.0.1", "10.0.0.2"]
    assert (got["arp_validate"], got["arp_all_targets"]) == (3, 1)
    assert got["ns_ip6_target"] == ["fd00::1", "fd00::2"]
    assert (got["primary_reselect"], got["fail_over_mac"], got["num_peer_notif"]) == (1, 1, 3)
    assert (got["all_slaves_active"], got["min_links"], got["resend_igmp"], got["lp_interval"]) == (
        1,
        2,
        3,
        2,
    )
    assert got["missed_max"] == 3
    assert got["primary"] == got["active_slave"] and got["primary"] > 0  # an ifindex
    assert set(got) >= {"peer_notif_delay", "coupled_control", "ad_lacp_active", "tlb_dynamic_lb"}


def test_802_3ad_bond_options():
    got = rtnl.bond_options(one_link("link-bond-802.3ad"))
    assert got["mode"] == 4
    assert (got["miimon"], got["updelay"], got["downdelay"], got["peer_notif_delay"]) == (100, 200, 300, 400)
    assert (got["ad_lacp_rate"], got["ad_select"], got["xmit_hash_policy"]) == (1, 1, 1)
    assert (got["ad_actor_sys_prio"], got["ad_user_port_key"]) == (100, 5)
    assert got["ad_actor_system"] == "02:00:00:00:00:aa"
    assert (got["ad_lacp_active"], got["coupled_control"]) == (1, 1)  # coupled_control: the default
    assert "arp_ip_target" not in got  # no targets: the kernel cancels the nest


@pytest.mark.parametrize("name", ["link-bond-active-backup", "link-bond-802.3ad"])
def test_bond_options_agree_with_pyroute2(name):
    body = one_link(name)
    ours = rtnl.bond_options(body)
    data = pyroute2_link(body).get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA")
    seen = 0
    for nla in data["attrs"]:
        key = nla[0][len("IFLA_BOND_") :].lower()
        if key == "ad_info" or not nla[0].startswith("IFLA_BOND_"):
            continue
        assert ours[key] == nla[1], key
        seen += 1
    assert seen >= 20


def test_veth_with_alias_and_peer_in_another_netns():
    body = one_link("link-veth")
    info = rtnl.link(body)
    assert (info.name, info.kind, info.mtu, info.up, info.master) == ("v0", "veth", 1400, True, 0)
    assert info.alias == "tenant: a b"
    assert info.link_netnsid is not None and info.link_netnsid >= 0
    msg = pyroute2_link(body)
    assert info.index == msg["index"]
    assert info.mac == msg.get_attr("IFLA_ADDRESS")
    assert info.link_netnsid == msg.get_attr("IFLA_LINK_NETNSID")


def test_link_dump_is_multipart_and_ends_with_done():
    data = datagrams("link-dump")
    kinds = [(k, f & rtnl.NLM_F_MULTI) for d in data for k, f, _, _ in rtnl.messages(d)]
    assert kinds[-1] == (rtnl.NLMSG_DONE, rtnl.NLM_F_MULTI)
    assert all(flag for _, flag in kinds)
    names = sorted(rtnl.link(b).name for b in bodies("link-dump", rtnl.RTM_NEWLINK))
    assert names == ["ab0", "lacp0", "lo", "s0", "sit0", "v0"]  # sit0: the lab kernel has SIT built in
    links = {rtnl.link(b).name: rtnl.link(b) for b in bodies("link-dump", rtnl.RTM_NEWLINK)}
    assert links["s0"].master == links["ab0"].index and links["s0"].kind == "dummy"


def test_address_dump():
    found = [rtnl.address(b) for b in bodies("address-dump", rtnl.RTM_NEWADDR)]
    v0 = rtnl.link(one_link("link-veth")).index
    assert {"index": v0, "address": "10.5.0.2/24", "family": netlink.AF_INET, "scope": 0} in found
    assert {"index": v0, "address": "fd00:5::2/64", "family": netlink.AF_INET6, "scope": 0} in found
    assert {"index": 1, "address": "127.0.0.1/8", "family": netlink.AF_INET, "scope": 254} in found


def test_route_dump_every_table():
    routes = [rtnl.route(b) for b in bodies("route-dump", rtnl.RTM_NEWROUTE)]
    v0 = rtnl.link(one_link("link-veth")).index
    slim = {(r["dst"], r["gw"], r["oif"], r["table"]) for r in routes}
    assert ("0.0.0.0/0", "10.5.0.1", v0, 254) in slim
    assert (
        "10.6.0.0/16",
        "10.5.0.1",
        v0,
        254,
    ) in slim  # asked for table 100: no IP_MULTIPLE_TABLES in the lab
    assert ("fd00:7::/48", "fd00:5::1", v0, 254) in slim
    assert ("10.5.0.2/32", None, v0, 255) in slim  # the local table
    assert all(r["nexthops"] == [{"oif": r["oif"], "gw": r["gw"]}] for r in routes if r["oif"])


def test_recorded_error_carries_the_kernels_reason():
    (data,) = datagrams("error-mtu")
    ((kind, flags, _, body),) = list(rtnl.messages(data))
    assert kind == rtnl.NLMSG_ERROR
    code, text = rtnl.error(body, flags)
    assert code == errno.EINVAL and "mtu" in text.lower()


# -- the exchange loop, replayed -----------------------------------------------------------------------------


def restamp(data: bytes, seq: int, extra_flags: int = 0) -> bytes:
    """The datagram with every message's sequence number set to seq (and flags added)."""
    out, pos = bytearray(data), 0
    while pos < len(out):
        length, _, flags = struct.unpack_from("=IHH", out, pos)
        struct.pack_into("=HI", out, pos + 6, flags | extra_flags, seq)
        pos += (length + 3) & ~3
    return bytes(out)


class Replay:
    """A socket that answers each send with the next scripted datagrams."""

    def __init__(self, script: list) -> None:
        self.script, self.sent = list(script), []

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        return len(data)

    def recv_into(self, buf, nbytes=0, flags=0) -> int:
        data = self.script.pop(0)
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        pass


def replayed(script: list) -> netlink.Handle:
    handle = netlink.Handle.__new__(netlink.Handle)
    handle.label, handle.ns_fd, handle.seq, handle.buf = "replay", None, 0, bytearray(netlink.RECV_BUFFER)
    handle.sock = Replay(script)
    return handle


def one_link_datagram(name: str) -> bytes:
    (data,) = datagrams(name)
    return data


def test_a_multipart_dump_is_read_to_done_and_stale_answers_are_skipped():
    dump = datagrams("link-dump")
    stale = restamp(one_link_datagram("link-veth"), 99)
    handle = replayed([stale] + [restamp(d, 1) for d in dump])
    assert sorted(link.name for link in handle.links()) == ["ab0", "lacp0", "lo", "s0", "sit0", "v0"]
    _, kind, flags, seq, _ = struct.unpack_from("=IHHII", handle.sock.sent[0])
    assert (kind, flags, seq) == (rtnl.RTM_GETLINK, rtnl.NLM_F_REQUEST | rtnl.NLM_F_DUMP, 1)


def test_an_interrupted_dump_is_read_again():
    dump = datagrams("link-dump")
    first = [restamp(d, 1, rtnl.NLM_F_DUMP_INTR) for d in dump]
    handle = replayed(first + [restamp(d, 2) for d in dump])
    assert len(handle.links()) == 6
    assert len(handle.sock.sent) == 2


def test_a_dump_interrupted_every_time_is_try_again_later():
    dump = datagrams("link-dump")
    script = [restamp(d, n, rtnl.NLM_F_DUMP_INTR) for n in range(1, netlink.DUMP_ATTEMPTS + 1) for d in dump]
    with pytest.raises(CniError) as exc:
        replayed(script).links()
    assert exc.value.code == 11


def test_kernel_errors_become_cni_errors_with_the_reason():
    handle = replayed([restamp(one_link_datagram("error-mtu"), 1)])
    with pytest.raises(CniError) as exc:
        handle.set(7, "setting the MTU of v0", mtu=10)
    assert exc.value.code == 101
    assert exc.value.msg.startswith("setting the MTU of v0 (in the replay netns): Invalid argument (")


def test_get_of_a_missing_link_is_none():
    error = rtnl.message(rtnl.NLMSG_ERROR, rtnl.NLM_F_CAPPED, 1, struct.pack("=i", -errno.ENODEV) + bytes(16))
    assert replayed([error]).get(name="nope") is None


@pytest.mark.parametrize(
    "code, cni",
    [(errno.EBUSY, 11), (errno.EAGAIN, 11), (errno.EINTR, 11), (errno.EPERM, 101), (errno.EEXIST, 101)],
)
def test_error_code_mapping(code, cni):
    err = netlink._kernel_error("doing it", netlink.KernelError(code))
    assert err.code == cni and err.msg == f"doing it: {os.strerror(code)}"
