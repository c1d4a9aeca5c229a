"""`bondlab run` as pytest runs tests, on a real kernel: -x stops at the first failure, --keep leaves the
failed scenario's lab deployed and says how to inspect and destroy it, --timeout stops a scenario that runs
too long and tears its lab down; nothing is left after."""

from __future__ import annotations

import re

import pytest

from tests.lab.conftest import SEEDS
from tests.lab.test_cli_verbs import bondlab

pytestmark = pytest.mark.kernel

SCENARIO = """apiVersion: bondlab/v1
kind: Scenario
metadata: {{name: {name}}}
spec:
  lab: {{files: [{seed}]}}
  steps:
{steps}
"""


def scenario(folder, name: str, *steps: str) -> str:
    path = folder / f"{name}.yaml"
    body = "\n".join(f"    - {step}" for step in steps)
    path.write_text(SCENARIO.format(name=name, seed=SEEDS / "000-sriov-bond-fixed.yaml", steps=body))
    return str(path)


def test_exitfirst_keep_and_timeout(tmp_path, lab_state, untouched):
    suite = tmp_path / "suite"
    suite.mkdir()
    scenario(suite, "a-wrong", "expect: {activeSlave: {link: test-pod/net2, within: 100ms}}")
    scenario(suite, "b-never-run", "expect: {activeSlave: {link: test-pod/net1}}")
    slow = scenario(tmp_path, "slow", "wait: 60s")
    out = str(tmp_path / "out")

    listed = bondlab("run", str(suite), "--list", "-k", "wrong or never").stdout.splitlines()
    assert [line.split()[1] for line in listed] == ["a-wrong", "b-never-run"]

    run = bondlab("run", str(suite), "-x", "--keep", "--out", out, check=False)
    assert run.returncode == 1, run.stderr
    assert "a-wrong.yaml FAIL" in run.stderr and "b-never-run" not in run.stderr, run.stderr
    assert "stopped at the first failure (-x)" in run.stderr
    (name,) = re.findall(r"lab (sc-[0-9a-f]+) kept: `bondlab inspect --name \1`", run.stderr)
    assert f"`bondlab destroy --name {name}`" in run.stderr
    assert '"active": "net1"' in bondlab("inspect", "--name", name, "--format", "json").stdout
    assert "destroyed" in bondlab("destroy", "--name", name).stdout

    timed = bondlab("run", slow, "--timeout", "8", "--out", out, check=False)
    assert timed.returncode == 1 and "slow.yaml ERROR" in timed.stderr, timed.stderr
    assert "did not finish within 8 s (--timeout)" in timed.stdout, timed.stdout
    assert "kept" not in timed.stderr
