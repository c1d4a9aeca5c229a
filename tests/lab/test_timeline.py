"""The timeline on a real kernel: a `within` after an action that lasts counts from the action's end, so
2 s of flapping followed by `mii: {status: up, within: 2s}` passes (it could never pass when the deadline
counted from the flap's first cut)."""

from __future__ import annotations

import pytest

from tests.lab.test_scenario_errors import run

pytestmark = pytest.mark.kernel


def test_within_after_a_flap_counts_from_its_end(tmp_path, lab_state, untouched):
    path, got = run(
        tmp_path,
        "  steps:\n"
        "    - flap: {vf: test-pod/net1, times: 20, period: 100ms}\n"
        "    - expect: {mii: {link: test-pod/net1, status: up, within: 2s}}\n",
    )
    assert got.status == "passed", got.message
    assert [s.ok for s in got.steps] == [None, True] and "mii: after" in got.steps[1].message


def test_the_timeline_keeps_the_kernels_events_of_a_failover_for_the_report(tmp_path, lab_state, untouched):
    """MII down of the cut slave, the failover naming the new active slave, its gratuitous ARP and MII up
    after the restore, as the probe helper read them (the report's close-ups draw them as marks)."""
    _, got = run(
        tmp_path,
        "  traffic: {flows: [{from: test-pod, to: gw}]}\n"
        "  steps:\n"
        "    - cut: {vf: test-pod/net1}\n"
        "    - expect: {activeSlave: {link: test-pod/net2, within: 1s}}\n"
        "    - restore: {vf: test-pod/net1}\n"
        "    - expect: {mii: {link: test-pod/net1, status: up, within: 1s}}\n",
    )
    assert got.status == "passed", got.message
    events = [(slave, what) for _ms, pod, slave, what in got.timeline["events"] if pod == "test-pod"]
    down, active, up = (
        events.index(e) for e in (("net1", "MII down"), ("net2", "active"), ("net1", "MII up"))
    )
    assert down < active < up and ("net2", "GARP") in events, events
    cut = got.timeline["actions"][0]
    assert cut[0] <= cut[2] <= got.timeline["events"][down][0]  # step start <= link change <= MII down
