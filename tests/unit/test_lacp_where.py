"""Where the lab speaks LACP (pure: no kernel): each ToR port where a PF's cable lands is one partner port,
with the LACP system of its switch, or of its MLAG pair (one system over both switches); the tc programs
that carry slow-protocol frames between the VFs and the PF's cable."""

from __future__ import annotations

from types import SimpleNamespace

from bondlab.world import lacp, switch
from bondlab.world.records import Pf, Switch


def _pf(node: str, name: str, prefix: str, cable_to: str) -> Pf:
    return Pf(
        node,
        f"ns-{node}",
        name,
        "veth",
        prefix,
        f"{prefix}pf",
        f"{prefix}up",
        "r",
        "0000:10:00.0",
        1500,
        cable_to=cable_to,
    )


def _state(lab_id: str = "abc123") -> SimpleNamespace:
    switches = {
        "core": Switch("core", "core"),
        "tor-a": Switch("tor-a", "sw1", mlag="tor-ab"),
        "tor-b": Switch("tor-b", "sw2", mlag="tor-ab"),
        "tor-c": Switch("tor-c", "sw3"),
    }
    pfs = [
        _pf("node1", "ens1f0", "n0p0", "tor-a"),
        _pf("node1", "ens2f0", "n0p1", "tor-b"),
        _pf("node2", "ens1f0", "n1p0", "tor-c"),
        _pf("node2", "ens2f0", "n1p1", "core"),
    ]
    return SimpleNamespace(id=lab_id, switches=switches, pfs=pfs, switch=switches.__getitem__)


def test_an_mlag_pair_is_one_system_and_every_other_switch_its_own():
    state = _state()
    ports = [lacp.partner_port(state, pf) for pf in state.pfs]
    assert [p["ifname"] for p in ports] == ["n0p0cu", "n0p1cu", "n1p0cu", "n1p1cu"]
    assert [p["switch"] for p in ports] == ["tor-a", "tor-b", "tor-c", "core"]
    assert ports[0]["system"] == ports[1]["system"]  # the pair
    assert len({p["system"] for p in ports}) == 3
    assert [p["number"] for p in ports] == [1, 2, 3, 4]  # unique in the lab, so in a pair
    system = ports[0]["system"]
    assert system.startswith("02:") and len(system) == 17  # locally administered, unicast
    assert lacp.partner_system(_state("other1"), "tor-a") != system  # unique to the lab


def test_slow_protocols_leave_by_the_cable_after_spoofchk_and_come_back_to_every_port():
    sw = switch.PfSwitch("n0p0")
    plain = switch.port_ingress_lines("n0p0v1", sw.uplink)
    assert plain[1] == (
        "filter add dev n0p0v1 ingress pref 1 protocol 0x8809 flower dst_mac 01:80:c2:00:00:02 "
        "action mirred egress redirect dev n0p0up"
    )
    assert len(plain) == 2
    guarded = switch.port_ingress_lines("n0p0v1", sw.uplink, "02:00:00:00:00:01")
    assert "src_mac 02:00:00:00:00:01 action mirred" in guarded[1]  # a spoofed LACPDU is not carried
    assert [line.split(" pref ")[1][:1] for line in guarded[1:]] == ["1", "2", "3"]
    fan = switch.cable_fan_out_lines(sw, ["n0p0v0", "n0p0v1", "n0p0pf"])
    assert [line.split(" pref ")[1].split()[0] for line in fan[1:]] == [
        "10",
        "11",
        "2",
        str(switch.FAN_OUT_LAST),
    ]
    assert fan[1].endswith("action mirred egress mirror dev n0p0v0 continue") and fan[-1].endswith(
        "action drop"
    )
