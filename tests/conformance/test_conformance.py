"""`bondlab conformance` on a real kernel (the lab VM here): bin/bond passes every case; a deliberately
broken plugin fails every spec and bond-cni case (each case proven able to fail); upstream's Go build
(d38fd91) and the reference macvlan plugin fail exactly what the README records for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bondlab.conformance import catalog, registry, suite
from bondlab.conformance.cases_lifecycle import PODS_ENV
from bondlab.conformance.context import Subject

pytestmark = pytest.mark.kernel


@pytest.fixture(autouse=True)
def fewer_pods(monkeypatch):
    monkeypatch.setenv(PODS_ENV, "10")  # parallel-add-del: 10 pods at once in CI (20 by default)


REPO = Path(__file__).resolve().parents[2]
BROKEN = Path(__file__).with_name("broken-plugin")
UPSTREAM = REPO / "bin" / "bond-upstream"
# Upstream's failures among the cases its test runs below (README, "Conformance": the full list).
UPSTREAM_CASES = (
    "version-answer or config-invalid or add-result-0 or del-netns-gone or del-invalid-config or check- "
    "or miimon or del-gives-host-links-back or del-twice"
)
UPSTREAM_FAILS = {
    "version-answer",
    "config-invalid-is-code-7",
    "add-result-0.3.0",
    "add-result-0.3.1",
    "add-result-0.4.0",
    "del-netns-gone",
    "del-invalid-config",
    "check-address-removed",
    "check-interface-removed",
    "check-slave-removed",
    "check-mode-changed",
    "field-miimon-number",
    "del-gives-host-links-back",
}


def run(plugin, expression: str = "") -> list:
    return suite.run([Subject.of(str(plugin))], registry.select(catalog.load().values(), expression))


def table(results) -> str:
    return "\n".join(f"{r.case}: {r.status} {r.message}" for r in results)


def test_bin_bond_passes_every_case():
    results = run(REPO / "bin" / "bond")
    assert len(results) == len(catalog.load())
    assert all(r.status == "passed" for r in results), table(r for r in results if r.status != "passed")


def test_the_broken_plugin_fails_every_spec_and_bond_cni_case():
    results = run(BROKEN)
    judged = [r for r in results if r.judged]
    assert judged and all(r.status == "failed" for r in judged), table(
        r for r in judged if r.status != "failed"
    )
    others = [r for r in results if not r.judged]
    assert all(r.status in ("failed", "skipped") for r in others), table(others)


@pytest.mark.skipif(
    not UPSTREAM.exists(), reason="no upstream build in bin/ (benchmarks/build-upstream-bond-cni)"
)
def test_upstream_fails_what_the_readme_records():
    results = run(UPSTREAM, UPSTREAM_CASES)
    assert not [r for r in results if r.status == "error"], table(results)
    assert {r.case for r in results if r.status == "failed"} == UPSTREAM_FAILS, table(results)


def test_the_generic_cases_hold_for_the_reference_macvlan_plugin():
    """The suite checks itself: what macvlan (Debian's containernetworking-plugins 1.1.1) fails is a finding
    the README records (its Go skel's VERSION answers in its own newest version, and it exits 0 without
    CNI_COMMAND), never a suite bug."""
    results = run(
        "/usr/lib/cni/macvlan", "del-twice or netns or add-result-1.0.0 or check-address or env-without"
    )
    failed = {r.case for r in results if r.status in ("failed", "error")}
    assert failed == {"env-without-command"}, table(results)
