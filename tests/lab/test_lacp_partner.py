"""The scapy LACP partner (lacpPartner: {behaviour}) on a real kernel: each behaviour's scenario fails with
the behaviour swapped for another (it proves what that partner does, not what any partner would); the
partner is a lab resource: destroy stops it, `clean` finds one whose lab record is lost by its mark, and it
refuses to speak on a port or in a netns that is not the lab's."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bondlab import deploy
from bondlab.model import scenario as scenarios
from bondlab.model import yamlsrc
from bondlab.run import actions
from bondlab.run.timeline import Timeline
from bondlab.util import procs
from bondlab.util.paths import REPO
from bondlab.util.wait import until
from bondlab.world import clean, lacp, lacp_partner
from bondlab.world.labstate import LabError
from bondlab.world.netns import Netns
from bondlab.world.switch import PfSwitch
from tests.labfiles import run_file

pytestmark = pytest.mark.kernel

LIBRARY = REPO / "scenarios"


@pytest.mark.parametrize(
    "name, behaviour, swapped, fails_at",
    [
        ("modes/802.3ad-partner-honest", "honest", "out-of-sync", "test-pod/net1 is negotiated (LACP): not"),
        ("modes/802.3ad-partner-out-of-sync", "out-of-sync", "honest", "net2 is individual (LACP): not"),
        ("modes/802.3ad-partner-silent", "silent", "honest", "test-pod/net2 is individual (LACP): not"),
        (
            "modes/802.3ad-partner-wrong-key",
            "wrong-key",
            "honest",
            "in distinct aggregators, 1 in the active",
        ),
        ("pitfalls/802.3ad-partner-all-out-of-sync", "out-of-sync", "honest", "outage 0 ms < 2000 ms"),
    ],
)
def test_each_partner_scenario_fails_with_its_behaviour_swapped(
    tmp_path, lab_state, untouched, name, behaviour, swapped, fails_at
):
    text = (LIBRARY / f"{name}.yaml").read_text()
    changed = text.replace(f"behaviour: {behaviour}", f"behaviour: {swapped}")
    changed = changed.replace("../lib/two-pf-pod.yaml", str(LIBRARY / "lib" / "two-pf-pod.yaml"))
    assert changed.count(f"behaviour: {swapped}") > text.count(f"behaviour: {swapped}")
    path = tmp_path / "swapped.yaml"
    path.write_text(changed)
    got = run_file(str(path))
    assert got.status == "failed", got.message
    assert fails_at in got.message, got.message


def test_lacp_rate_slow_fails_swapped_for_fast(tmp_path, lab_state, untouched):
    """The bond's LACPDUs carry its lacpRate (the actor's timeout bit) and come at its rate."""
    text = (LIBRARY / "options" / "lacp-rate-slow.yaml").read_text()
    assert text.count('"lacpRate": "slow"') == 1
    changed = text.replace('"lacpRate": "slow"', '"lacpRate": "fast"')
    path = tmp_path / "fast.yaml"
    path.write_text(changed.replace("../lib/two-pf-pod.yaml", str(LIBRARY / "lib" / "two-pf-pod.yaml")))
    got = run_file(str(path))
    assert got.status == "failed", got.message
    assert "the last LACPDU from the bond has actor timeout set" in got.message, got.message
    assert "LACPDU(s) from the bond at the switch port (want 0)" in got.message, got.message


def _deploy(*extra: str):
    """The honest partner scenario's lab (derived: tor-a + tor-b, an MLAG pair), or with `extra` lab files."""
    scen = scenarios.load(str(LIBRARY / "modes" / "802.3ad-partner-honest.yaml"))
    docs = list(scen.documents) + [
        doc for name in extra for doc in yamlsrc.load_all(name.read_text(), str(name))
    ]
    return deploy.deploy(deploy.prepare(docs))


def _partner(state) -> int:
    tl = Timeline(state)
    try:
        actions.lacp_partner(tl, {"pod": "test-pod", "behaviour": "honest"})
    finally:
        tl.close()
    pod = state.pods[0]
    until(
        lambda: lacp.negotiated(lacp.slave_state(pod.netns, "net1")), 10, "net1 negotiates with the partner"
    )
    return state.lacp_partners[lacp_partner.SPEAKER]["pid"]


def test_the_partner_is_stopped_with_its_lab_and_refuses_what_is_not_the_labs(lab_state, untouched, tmp_path):
    state = _deploy()
    try:
        tl = Timeline(state)
        with pytest.raises(LabError, match="a kernel bond cannot stand for MLAG pair tor-a \\+ tor-b"):
            actions.lacp_partner(tl, {"pod": "test-pod"})
        tl.close()
        pid = _partner(state)
        assert procs.alive(pid) and lacp_partner.leftovers(state.id) == [pid]
        tl = Timeline(state)
        with pytest.raises(LabError, match="have a partner of the other kind"):
            actions.lacp_partner(tl, {"pod": "test-pod"})  # the switch's own bond on the same ports
        with pytest.raises(LabError, match="not slaves of its bond: bond0"):
            actions.lacp_partner(tl, {"pod": "test-pod", "behaviour": "silent", "links": ["test-pod/bond0"]})
        tl.close()
        fabric = state.netns_name("fabric")
        subprocess.run(
            ["ip", "-n", fabric, "link", "add", "blx0", "type", "veth", "peer", "blx1"], check=True
        )
        spec = tmp_path / "spec.json"
        port = {"ifname": "blx0", "system": "02:00:00:00:00:01", "number": 1}
        spec.write_text(json.dumps({"ports": [port], "behaviours": {}}))
        here = [sys.executable, "-m", "bondlab.world.lacp_partner", str(spec), state.mark]
        said = subprocess.run(
            ["ip", "netns", "exec", fabric, *here], capture_output=True, text=True, timeout=60
        )
        assert said.stdout.startswith("error ports not marked") and "blx0" in said.stdout, said
        said = subprocess.run(here, capture_output=True, text=True, timeout=60)  # the VM's own netns
        assert said.stdout.startswith("error not in a netns of lab"), said
    finally:
        errors = deploy.destroy(state)
    assert errors == [] and not procs.alive(pid) and lacp_partner.leftovers(state.id) == []


def test_clean_stops_a_partner_whose_lab_record_is_lost(lab_state, untouched):
    state = _deploy()
    pid = _partner(state)
    state.remove()  # the record is lost: only the marks are left to find
    found = clean.clean(state.id)
    assert found["processes"] == [pid] and found["netns"], found
    assert not procs.alive(pid) and lacp_partner.leftovers(state.id) == []


def test_the_kernel_partner_is_the_switchs_own_bond_over_its_tor_ports(lab_state, untouched):
    """Both PF cables on one switch (core): its own 802.3ad bond over the two ports where they land, with the
    switch's LACP system, negotiates with the pod's bond; the scapy partner is refused on those ports."""
    state = _deploy(LIBRARY / "lib" / "two-pf-three-peers.yaml")
    fabric = Netns(state.netns_name("fabric"))
    try:
        tl = Timeline(state)
        actions.lacp_partner(tl, {"pod": "test-pod"})
        pod = state.pods[0]
        for slave in ("net1", "net2"):
            until(lambda s=slave: lacp.negotiated(lacp.slave_state(pod.netns, s)), 10, f"{slave} negotiates")
        tor_ports = sorted(PfSwitch(pf.switch).core_port for pf in state.pfs)
        enslaved = sorted(link["ifname"] for link in fabric.ip_json("link", "show", "master", "lag1"))
        assert enslaved == tor_ports
        info = fabric.link("lag1")["linkinfo"]["info_data"]
        assert info["ad_actor_system"] == lacp.partner_system(state, "core")
        with pytest.raises(LabError, match="have a partner of the other kind"):
            actions.lacp_partner(tl, {"pod": "test-pod", "behaviour": "honest"})
        tl.close()
    finally:
        assert deploy.destroy(state) == []
