"""The plugin's rtnetlink codec, no kernel: each request against the bytes the uapi headers define (spelled
out field by field), attribute padding and nesting, and error messages.  Recorded kernel answers are decoded
in test_rtnl_decode.py."""

from __future__ import annotations

import errno
import struct

import pytest

from bondcni import rtnl


def hx(text: str) -> bytes:
    """Hex with spaces and # comments, one field per group."""
    return bytes.fromhex("".join(line.split("#", 1)[0] for line in text.splitlines()).replace(" ", ""))


IFINFO_7 = "00 00 0000 07000000"  # ifinfomsg: family, pad, type, index 7


@pytest.mark.parametrize(
    "payload, wire",
    [
        (b"", "0400 0900"),
        (b"\x01", "0500 0900 01 000000"),
        (b"\x01\x02", "0600 0900 0102 0000"),
        (b"\x01\x02\x03", "0700 0900 010203 00"),
        (b"\x01\x02\x03\x04", "0800 0900 01020304"),
        (b"\x01\x02\x03\x04\x05", "0900 0900 0102030405 000000"),
    ],
)
def test_attribute_length_excludes_padding_to_four_bytes(payload, wire):
    assert rtnl.attr(9, payload) == hx(wire)


def test_nested_attributes_carry_the_nested_flag_and_decode_without_it():
    wire = rtnl.nest(8, rtnl.u32(0, 1), rtnl.attr(1, b"\xff"))
    assert wire == hx("1400 0880  0800 0000 01000000  0500 0100 ff 000000")
    assert rtnl.attr_list(wire) == [(8, wire[4:])]
    assert rtnl.attr_list(wire[4:]) == [(0, b"\x01\x00\x00\x00"), (1, b"\xff")]


def test_message_header():
    assert rtnl.message(rtnl.RTM_GETLINK, rtnl.NLM_F_REQUEST | rtnl.NLM_F_DUMP, 7, b"abcd") == hx(
        "14000000 1200 0103 07000000 00000000 61626364"  # len 20, RTM_GETLINK, REQUEST|DUMP, seq 7, pid 0
    )


def test_get_link_by_name_asks_without_statistics():
    assert rtnl.link_query(name="bond0") == hx(
        """00 00 0000 00000000 00000000 00000000
        0a00 0300 626f6e6430 00 0000    # IFLA_IFNAME "bond0\\0"
        0800 1d00 08000000              # IFLA_EXT_MASK RTEXT_FILTER_SKIP_STATS"""
    )


def test_get_link_by_index():
    assert rtnl.link_query(index=7) == hx(IFINFO_7 + "00000000 00000000  0800 1d00 08000000")


@pytest.mark.parametrize(
    "change, tail",
    [
        ({"state": "up"}, "01000000 01000000"),  # flags IFF_UP, change IFF_UP
        ({"state": "down"}, "00000000 01000000"),
        ({"master": 3}, "00000000 00000000  0800 0a00 03000000"),  # IFLA_MASTER
        ({"master": 0}, "00000000 00000000  0800 0a00 00000000"),
        ({"mtu": 9000}, "00000000 00000000  0800 0400 28230000"),  # IFLA_MTU
        ({"ifname": "net1"}, "00000000 00000000  0900 0300 6e657431 00 000000"),
        ({"address": "02:00:00:00:00:01"}, "00000000 00000000  0a00 0100 020000000001 0000"),
        ({"net_ns_fd": 5}, "00000000 00000000  0800 1c00 05000000"),  # IFLA_NET_NS_FD
        ({"alias": "x"}, "00000000 00000000  0500 1400 78 000000"),  # IFLA_IFALIAS, no NUL
        ({"alias": ""}, "00000000 00000000  0400 1400"),  # empty: the kernel removes the alias
    ],
)
def test_link_changes(change, tail):
    assert rtnl.link_change(7, **change) == hx(IFINFO_7 + tail)


def test_link_change_refuses_unknown_fields_and_states():
    with pytest.raises(TypeError):
        rtnl.link_change(7, colour="red")
    with pytest.raises(ValueError):
        rtnl.link_change(7, state="sideways")


def test_create_bond_request():
    body = rtnl.link_change(
        ifname="b0",
        mtu=1400,
        linkinfo=rtnl.bond_linkinfo({"mode": 1, "miimon": 100, "arp_ip_target": ("10.0.0.1",)}),
    )
    assert body == hx(
        """00 00 0000 00000000 00000000 00000000
        0700 0300 623000 00                   # IFLA_IFNAME "b0\\0"
        0800 0400 78050000                    # IFLA_MTU 1400
        3000 1280                             # IFLA_LINKINFO (nested), 48 bytes
          0900 0100 626f6e6400 000000         #   IFLA_INFO_KIND "bond\\0"
          2000 0280                           #   IFLA_INFO_DATA (nested), 32 bytes
            0500 0100 01 000000               #     IFLA_BOND_MODE u8 1
            0800 0300 64000000                #     IFLA_BOND_MIIMON u32 100
            0c00 0880 0800 0000 0a000001      #     IFLA_BOND_ARP_IP_TARGET {0: 10.0.0.1}"""
    )


def test_every_writable_bond_option_encodes_with_its_type_and_width():
    widths = {"u8": 1, "u16": 2, "u32": 4, "mac": 6}
    for name, (number, form) in rtnl.BOND_ATTRS.items():
        if form in widths:
            value = "02:00:00:00:00:09" if form == "mac" else 1
            wire = rtnl.bond_attr((name, value))
            length, kind = struct.unpack_from("=HH", wire)
            assert (kind, length - 4) == (number, widths[form]), name
    assert max(rtnl.BOND_NAMES) == 33  # IFLA_BOND_BROADCAST_NEIGH (6.17); 6.12's if_link.h ends at 32
    assert sorted(rtnl.BOND_NAMES) == list(range(1, 34))


def test_slave_options_encode_in_slave_data_and_decode_back():
    wire = rtnl.bond_slave_linkinfo({"prio": -50, "actor_port_prio": 1000})
    assert wire == hx(
        """2400 1280                             # IFLA_LINKINFO (nested), 36 bytes
          0900 0400 626f6e6400 000000         #   IFLA_INFO_SLAVE_KIND "bond\\0"
          1400 0580                           #   IFLA_INFO_SLAVE_DATA (nested), 20 bytes
            0800 0900 ceffffff                #     IFLA_BOND_SLAVE_PRIO s32 -50
            0600 0a00 e803 0000               #     IFLA_BOND_SLAVE_ACTOR_PORT_PRIO u16 1000"""
    )
    body = rtnl.ifinfo(7) + wire
    assert rtnl.bond_slave_options(body) == {"prio": -50, "actor_port_prio": 1000}
    assert rtnl.bond_options(body) == {}


def test_address_lists_and_read_only_options():
    ns = rtnl.bond_attr(("ns_ip6_target", ["fd00::1", "fd00::2"]))
    assert ns == hx(
        """2c00 1f80
          1400 0000 fd000000000000000000000000000001
          1400 0100 fd000000000000000000000000000002"""
    )
    assert rtnl.bond_attr(("arp_ip_target", "10.0.0.9")) == hx("0c00 0880 0800 0000 0a000009")
    with pytest.raises(ValueError, match="read-only"):
        rtnl.bond_attr(("ad_info", {}))
    with pytest.raises(ValueError, match="unknown bond option"):
        rtnl.bond_attr(("colour", 1))


def test_set_bond_option_request():
    body = rtnl.link_change(7, linkinfo=rtnl.bond_linkinfo({"primary": 12}))
    assert body == hx(
        IFINFO_7
        + """00000000 00000000
        1c00 1280  0900 0100 626f6e6400 000000  0c00 0280  0800 0b00 0c000000"""
    )


@pytest.mark.parametrize(
    "cidr, wire",
    [
        ("10.1.2.3/24", "02 18 00 00 07000000  0800 0200 0a010203  0800 0100 0a010203"),
        ("fd00::5/64", "0a 40 00 00 07000000  1400 0100 fd000000000000000000000000000005"),
    ],
)
def test_add_address_request(cidr, wire):
    assert rtnl.address_add(7, cidr) == hx(wire)


@pytest.mark.parametrize(
    "dst, gw, wire",
    [
        # rtmsg: family, dst_len, src_len, tos, table main, proto static, scope universe, type unicast, flags
        ("0.0.0.0/0", "10.1.2.1", "02 00 00 00 fe 04 00 01 00000000  0800 0500 0a010201  0800 0400 07000000"),
        ("10.9.0.0/16", None, "02 10 00 00 fe 04 00 01 00000000  0800 0100 0a090000  0800 0400 07000000"),
        ("::/0", "fd00::1", "0a 00 00 00 fe 04 00 01 00000000  1400 0500 fd000000000000000000000000000001"
         "  0800 0400 07000000"),
    ],
)  # fmt: skip
def test_add_route_request(dst, gw, wire):
    assert rtnl.route_add(7, dst, gw) == hx(wire)


def test_dump_queries_ask_every_family_and_table():
    assert rtnl.dump_query(rtnl.RTM_GETADDR) == bytes(8)
    assert rtnl.dump_query(rtnl.RTM_GETROUTE) == bytes(12)


def test_error_with_extended_ack_text():
    body = hx(
        """edffffff                                 # error -19 (ENODEV)
        14000000 1000 0500 01000000 00000000      # the request's header, echoed without payload (CAPPED)
        1400 0100 6e6f20737563682064657669636500  # NLMSGERR_ATTR_MSG "no such device\\0" """
    )
    assert rtnl.error(body, rtnl.NLM_F_CAPPED | rtnl.NLM_F_ACK_TLVS) == (errno.ENODEV, "no such device")
    assert rtnl.error(hx("00000000 14000000 1000 0500 01000000 00000000"), rtnl.NLM_F_CAPPED) == (0, "")


def test_error_echoing_the_whole_request_finds_its_text_after_it():
    request = rtnl.message(16, 5, 1, rtnl.link_change(7, mtu=1))  # 16 + 24 bytes
    body = struct.pack("=i", -errno.EINVAL) + request + rtnl.attr(rtnl.NLMSGERR_ATTR_MSG, b"bad mtu\0")
    assert rtnl.error(body, rtnl.NLM_F_ACK_TLVS) == (errno.EINVAL, "bad mtu")


def test_messages_split_one_datagram_and_refuse_a_truncated_one():
    data = rtnl.message(16, 2, 1, b"abcd") + rtnl.message(3, 2, 1, bytes(4))
    assert list(rtnl.messages(data)) == [(16, 2, 1, b"abcd"), (3, 2, 1, bytes(4))]
    with pytest.raises(ValueError, match="malformed"):
        list(rtnl.messages(data[:-3]))


def test_link_info_is_frozen():
    info = rtnl.LinkInfo(1, "lo", "", 65536, True, 0, "")
    with pytest.raises(AttributeError):
        info.mtu = 1
    assert info == rtnl.LinkInfo(1, "lo", "", 65536, True, 0, "", "", "", None)
    assert "name='lo'" in repr(info)
