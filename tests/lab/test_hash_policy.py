"""modes/balance-xor-layer3p4.yaml proves its hash policy: with its NAD's xmitHashPolicy swapped for one
that does not hash on ports (layer2, layer2+3), its 16 sessions land on one slave and `spread` fails."""

from __future__ import annotations

import pytest

from bondlab.run.runner import run_scenario
from bondlab.util.paths import REPO
from tests.labfiles import swapped

pytestmark = pytest.mark.kernel

SCENARIO = REPO / "scenarios" / "modes" / "balance-xor-layer3p4.yaml"


@pytest.mark.parametrize("policy", ["layer2", "layer2+3"])
def test_the_layer3p4_scenario_fails_under_a_policy_blind_to_ports(tmp_path, lab_state, untouched, policy):
    path = swapped(
        SCENARIO, '"xmitHashPolicy": "layer3+4"', f'"xmitHashPolicy": "{policy}"', tmp_path / "s.yaml"
    )
    got = run_scenario(str(path))
    assert got.status == "failed", got.message
    assert "spread: " in got.message and "carried 0% of the probes" in got.message, got.message
    assert "sticky" not in got.message  # one slave: every session stays put, the spread is what fails
