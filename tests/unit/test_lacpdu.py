"""The scapy LACP partner's LACPDUs (bondlab.world.lacpdu): what each behaviour says after hearing what the
bond said, the frame built with scapy and read back (by the partner and by the runner's dissector), the
periodic rate it keeps. Pure: no kernel, no socket."""

from __future__ import annotations

import pytest

from bondlab.model import schema
from bondlab.traffic import frames
from bondlab.world import lacpdu
from bondlab.world.lacpdu import BIT, Info

SYSTEM, MAC = "02:1a:c9:00:00:01", "02:00:00:00:00:09"


def bond(*bits: str, port: int = 1) -> Info:
    return Info("ae:fe:ce:9f:b8:74", 0xFFFF, 15, port, 0xFF, sum(BIT[b] for b in bits))


def words(info: Info) -> set:
    return set(frames.lacp_bits(info.state))


IN_SYNC = bond("activity", "timeout", "aggregation", "synchronization")
ATTACHING = bond("activity", "timeout", "aggregation")


def test_the_behaviours_are_the_schemas():
    step = schema.schema()["$defs"]["step"]["properties"]["lacpPartner"]
    assert tuple(step["properties"]["behaviour"]["enum"]) == lacpdu.BEHAVIOURS


def test_before_hearing_the_bond_an_honest_partner_is_defaulted_and_asks_for_fast_lacpdus():
    me = lacpdu.actor("honest", SYSTEM, 1, None)
    assert words(me) == {"activity", "aggregation", "defaulted", "timeout"}
    assert (me.system, me.key, me.port) == (SYSTEM, lacpdu.KEY, 1)


def test_honest_is_in_sync_and_collects_and_distributes_once_the_bond_is_in_sync():
    assert words(lacpdu.actor("honest", SYSTEM, 1, ATTACHING)) == {
        "activity",
        "aggregation",
        "synchronization",
        "timeout",
    }
    assert {"synchronization", "collecting", "distributing"} <= words(
        lacpdu.actor("honest", SYSTEM, 1, IN_SYNC)
    )


def test_out_of_sync_never_says_sync_collecting_or_distributing():
    got = words(lacpdu.actor("out-of-sync", SYSTEM, 2, IN_SYNC))
    assert got == {"activity", "aggregation", "timeout"}


def test_wrong_key_gives_each_port_its_own_key_honest_one_key_for_all():
    keys = {port: lacpdu.actor("wrong-key", SYSTEM, port, IN_SYNC).key for port in (1, 2)}
    assert keys[1] != keys[2]
    assert {lacpdu.actor("honest", SYSTEM, port, IN_SYNC).key for port in (1, 2)} == {lacpdu.KEY}
    assert "synchronization" in words(lacpdu.actor("wrong-key", SYSTEM, 1, IN_SYNC))


def test_silent_sends_nothing_and_an_unknown_behaviour_is_an_error():
    assert lacpdu.actor("silent", SYSTEM, 1, IN_SYNC) is None
    assert lacpdu.answer("silent", SYSTEM, 1, IN_SYNC, MAC) is None
    with pytest.raises(ValueError, match="liar"):
        lacpdu.actor("liar", SYSTEM, 1, None)


def test_the_timeout_bit_and_the_periodic_rate_follow_the_bond():
    slow = bond("activity", "aggregation", "synchronization")
    assert "timeout" not in words(lacpdu.actor("honest", SYSTEM, 1, slow))
    assert lacpdu.period(slow) == lacpdu.SLOW
    assert lacpdu.period(IN_SYNC) == lacpdu.period(None) == lacpdu.FAST == 1.0


def test_the_frame_is_a_slow_protocols_lacpdu_echoing_the_bond_as_partner():
    frame = lacpdu.answer("honest", SYSTEM, 2, IN_SYNC, MAC)
    assert frame[:6] == bytes.fromhex("0180c2000002") and frame[6:12] == bytes.fromhex("020000000009")
    assert frame[12:14] == b"\x88\x09" and frame[14:16] == b"\x01\x01"  # LACP subtype, version 1
    assert len(frame) == 124  # 14 + the 110-byte LACPDU
    assert lacpdu.heard(frame) == lacpdu.actor("honest", SYSTEM, 2, IN_SYNC)  # read back as the partner reads
    event = ("p/net1", True, "lacp", 0, 0, 5, frame.hex())  # as the runner's taps record it
    (seen,) = frames.lacpdus([event], "p/net1")
    assert seen["partner"] == frames.lacp_bits(IN_SYNC.state) and "distributing" in seen["actor"]


def test_a_frame_that_is_not_lacp_is_not_heard():
    arp = bytes.fromhex("ffffffffffff020000000009" + "0806") + bytes(28)
    assert lacpdu.heard(arp) is None


def test_a_change_in_what_the_bond_says_is_answered_at_once():
    assert lacpdu.changed(None, IN_SYNC)
    assert lacpdu.changed(ATTACHING, IN_SYNC)
    assert not lacpdu.changed(IN_SYNC, bond("activity", "timeout", "aggregation", "synchronization"))


def test_a_port_sends_at_most_three_lacpdus_a_second():
    assert lacpdu.next_send([], 10.0) == 10.0
    assert lacpdu.next_send([9.5, 9.8], 10.0) == 10.0
    assert lacpdu.next_send([9.5, 9.8, 9.9], 10.0) == pytest.approx(10.5)
    assert lacpdu.next_send([8.0, 9.8, 9.9], 10.0) == 10.0  # 8.0 left the window
