"""CI's slice of the kernel matrix: a few scenario files on Debian 12's stock 6.1 (qemu, bonding as a
module, 250 Hz) beside the lab kernel, through `bondlab run --kernel`, as a user's CI would run it. The whole
library on every kernel is `./dev matrix` (README: "The kernels your nodes run"); this slice keeps CI inside
its time budget (about two minutes under TCG here)."""

import json
import os
import subprocess
import sys

import pytest

from bondlab.vm import catalog
from bondlab.vm.engine import VmError
from tests.vm.test_runner import unchanged_host  # noqa: F401 (a fixture)

pytestmark = pytest.mark.vm

# Files whose verdicts depend on the bonding driver, not on how fast TCG emulates (counts and LACP states, no
# millisecond bounds: under TCG the lab's timing bounds measure the emulator, README "The kernels your nodes
# run"): whether num_grat_arp's N-1 holds (it does on 6.1 as on 6.12: 4 GARPs for 5, the same code in
# bond_mii_monitor), N with a longer delay, and an 802.3ad bond negotiating with an honest partner.
SLICE = [
    "scenarios/modes/802.3ad-partner-honest.yaml",
    "scenarios/options/num-grat-arp.yaml",
    "scenarios/pitfalls/num-grat-arp-minus-one.yaml",
]


@pytest.fixture(scope="module")
def debian_6_1():
    try:
        catalog.engine(catalog.get("debian-6.1"), fetch=False)
    except VmError as error:
        pytest.skip(f"debian-6.1 cannot run here ({error}); `bondlab doctor --fix` fetches it")


def test_the_slice_holds_on_debian_6_1_as_on_the_lab_kernel(debian_6_1, tmp_path, unchanged_host):  # noqa: F811
    out = tmp_path / "matrix"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bondlab",
            "run",
            "--kernel",
            "lab",
            "--kernel",
            "debian-6.1",
            "--out",
            str(out),
        ]
        + SLICE,
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ, BONDLAB_STATE=str(tmp_path / "state")),
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    table = proc.stdout[proc.stdout.index("[1] lab") :]
    assert table.splitlines()[1] == "[2] debian-6.1"
    for path in SLICE:
        row = next(line for line in table.splitlines() if line.startswith(path)).split()
        assert (row[1], row[3]) == ("PASS", "PASS"), row
    assert (out / "matrix.txt").read_text().startswith("[1] lab\n[2] debian-6.1\n")
    for kernel, release in (("lab", "6.12."), ("debian-6.1", "6.1.0-")):
        results = json.loads((out / kernel / "results.json").read_text())
        assert [os.path.relpath(r["path"]) for r in results] == SLICE
        assert all(r["kernel"].startswith(f"{kernel} ({release}") for r in results), results[0]["kernel"]
