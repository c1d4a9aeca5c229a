"""Every balance-xor/802.3ad policy scenario proves its policy: run with its NAD's xmitHashPolicy swapped for
another, it fails wherever that policy hashes its traffic differently (`hashed` names the sessions), and
passes as written. The table (scenarios/README.md, "Hash policies, proved"): scenario x policy -> outcome;
`BONDLAB_HASH_TABLE=full pytest tests/lab/test_hash_policy.py` runs all of it, the suite a cut of it.

encap2+3 and layer2+3 (encap3+4 and layer3+4) hash plain unconnected UDP alike: those swaps pass, as the
scenarios' headers say. The originals passing is also the check that traffic.xmit_hash predicts the kernel."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bondlab.traffic.xmit_hash import POLICIES
from bondlab.util.paths import REPO
from tests.labfiles import run_file, swapped

pytestmark = pytest.mark.kernel

MODES = REPO / "scenarios" / "modes"
CLAIMS = {  # scenario -> the policy its NAD sets and its `hashed` claims
    "balance-xor-layer2": "layer2",
    "balance-xor-layer2p3": "layer2+3",
    "balance-xor-layer3p4": "layer3+4",
    "balance-xor-encap2p3": "encap2+3",
    "balance-xor-encap3p4": "encap3+4",
    "balance-xor-vlanpsrcmac": "vlan+srcmac",
    "802.3ad": "layer3+4",
}
ALIKE = [{"layer2+3", "encap2+3"}, {"layer3+4", "encap3+4"}]  # on traffic without tunnels or socket hashes


def outcome(claim: str, policy: str) -> str:
    return "passed" if policy == claim or {claim, policy} in ALIKE else "failed"


def table(full: bool) -> list:
    """Each scenario under every other policy (under its own it is a pytest item of its own, scenarios/).
    Not full (the suite's default: the full table is ~7.5 min of lab VM): per scenario, every swap that
    passes (the alike ones) and one that fails, the failing policies taken in turn across the scenarios."""
    rows = []
    for nth, (name, claim) in enumerate(CLAIMS.items()):
        others = [policy for policy in POLICIES if policy != claim]
        failing = [policy for policy in others if outcome(claim, policy) == "failed"]
        chosen = others if full else [p for p in others if p not in failing] + [failing[nth % len(failing)]]
        for policy in chosen:
            rows.append(pytest.param(name, policy, outcome(claim, policy), id=f"{name}-{policy}"))
    return rows


TABLE = table(os.environ.get("BONDLAB_HASH_TABLE") == "full")


def with_policy(tmp_path, name: str, policy: str):
    """The scenario with its NAD's policy set to `policy`, as a file to run."""
    old, new = f'"xmitHashPolicy": "{CLAIMS[name]}"', f'"xmitHashPolicy": "{policy}"'
    return str(swapped(MODES / f"{name}.yaml", old, new, tmp_path / f"{name}.yaml"))


@pytest.mark.parametrize("name, policy, expected", TABLE)
def test_a_policy_scenario_fails_under_a_policy_that_hashes_its_traffic_otherwise(
    tmp_path, lab_state, untouched, name, policy, expected
):
    got = run_file(with_policy(tmp_path, name, policy), timeout=150)
    assert got.status == expected, got.message
    if expected == "failed":
        claim = CLAIMS[name]
        assert "hashed: " in got.message, got.message
        assert f"sessions not on the slave {claim} picks" in got.message, got.message
        assert f"the bond's own policy: {policy})" in got.message, got.message  # read from the kernel


def test_hashed_without_a_policy_predicts_with_the_bonds_own(tmp_path, lab_state, untouched):
    """The vlan+srcmac scenario on a layer3+4 bond, its claim dropped: `hashed` reads layer3+4 from
    /proc/net/bonding and predicts every session right."""
    path = swapped(
        Path(with_policy(tmp_path, "balance-xor-vlanpsrcmac", "layer3+4")),
        "hashed: {policy: vlan+srcmac}",
        "hashed: {}",
        tmp_path / "claim-dropped.yaml",
    )
    got = run_file(path, timeout=150)
    assert got.status == "passed", got.message
    hashed = next(s.message for s in got.steps if "hashed:" in s.message)
    assert hashed.count("sessions each on the slave layer3+4 picks") == 3, hashed
