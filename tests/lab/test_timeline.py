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
