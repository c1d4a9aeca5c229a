"""The named kernels (`--kernel`), what `kernel list` says, and how a matrix run takes its command line apart:
pure logic over a cache directory made here (no VM boots)."""

import argparse
import json
import os
import subprocess
import sys

import pytest

from bondlab.cli import matrix
from bondlab.report import render
from bondlab.vm import catalog, kernel_list
from bondlab.vm.engine import VmError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BONDLAB_CACHE", str(tmp_path))
    return tmp_path


def _debian_image(cache, release: str, hz: int = 250, preempt: str = "CONFIG_PREEMPT_DYNAMIC=y"):
    tree = cache / "qemu" / "kernels" / f"linux-image-{release}"
    (tree / "boot").mkdir(parents=True)
    (tree / "boot" / f"vmlinuz-{release}").write_bytes(b"\x7fELF")
    (tree / "boot" / f"config-{release}").write_text(f"CONFIG_HZ={hz}\n{preempt}\n")
    (tree / "lib" / "modules" / release).mkdir(parents=True)
    return tree


def test_every_name_the_issue_asks_for_is_declared_once_with_its_engine():
    assert {name: k.engine for name, k in catalog.KERNELS.items()} == {
        "lab": "uml",
        "debian-6.1": "qemu",
        "debian-6.12": "qemu",
        "debian-6.12-rt": "qemu",
        "host": "host",
    }
    with pytest.raises(VmError, match="unknown kernel 'debian-5.10'; choose from: lab, debian-6.1"):
        catalog.get("debian-5.10")


def test_a_cached_image_is_found_by_its_release_and_the_newest_wins(cache):
    _debian_image(cache, "6.1.0-9-amd64")
    _debian_image(cache, "6.1.0-57-amd64")
    _debian_image(cache, "6.12.95+deb12-amd64")
    _debian_image(cache, "6.12.95+deb12-rt-amd64", preempt="CONFIG_PREEMPT_RT=y")
    found = {
        name: catalog.guest_kernel(catalog.get(name))
        for name in ("debian-6.1", "debian-6.12", "debian-6.12-rt")
    }
    assert {name: catalog.release_of(k) for name, k in found.items()} == {
        "debian-6.1": "6.1.0-57-amd64",  # not 6.1.0-9: numbers compare as numbers
        "debian-6.12": "6.12.95+deb12-amd64",  # not the rt image, which also starts with 6.12.95
        "debian-6.12-rt": "6.12.95+deb12-rt-amd64",
    }
    assert catalog.config_of(found["debian-6.12-rt"]) == {"hz": 250, "preempt": "PREEMPT_RT"}
    assert catalog.config_of(found["debian-6.1"]) == {"hz": 250, "preempt": "PREEMPT_DYNAMIC"}


def test_an_image_not_cached_is_not_fetched_behind_the_users_back(cache):
    with pytest.raises(
        Exception, match="debian-6.12-rt is not in the cache: `bondlab kernel fetch debian-6.12-rt`"
    ):
        catalog.guest_kernel(catalog.get("debian-6.12-rt"))


def test_what_runs_cost_is_recorded_and_listed(cache):
    _debian_image(cache, "6.1.0-57-amd64")
    catalog.record_run("debian-6.1", "run", 55, 901.4, 27.96)
    assert catalog.recorded_runs()["debian-6.1"]["run"]["items"] == 55
    listing = kernel_list.render()
    row = next(line for line in listing.splitlines() if line.startswith("debian-6.1 "))
    assert "6.1.0-57-amd64, 250 Hz, PREEMPT_DYNAMIC" in row
    assert "run: 55 in 15m01s (boot 28 s)" in row
    rt = next(line for line in listing.splitlines() if line.startswith("debian-6.12-rt "))
    assert "no: debian-6.12-rt is not in the cache" in rt


def test_a_matrix_run_takes_out_where_it_runs_and_keeps_everything_else():
    argv = [
        "run",
        "scenarios/",
        "--kernel",
        "lab",
        "--kernel=debian-6.1",
        "-k",
        "cut",
        "--out",
        "x",
        "--engine=qemu",
    ]
    assert matrix.without_placement(argv) == ["run", "scenarios/", "-k", "cut"]


def _args(**given):
    return argparse.Namespace(**{"kernel": ["lab"], "engine": None, "keep": False, **given})


def test_options_that_cannot_go_with_a_matrix_are_refused_saying_why():
    assert matrix.check(_args()) == ""
    assert "unknown kernel debian-5.10" in matrix.check(_args(kernel=["debian-5.10"]))
    assert "give one" in matrix.check(_args(engine="qemu"))
    assert "--keep" in matrix.check(_args(keep=True))


def test_the_side_by_side_table_reads_results_json_records(tmp_path):
    records = {
        "lab": [{"path": "scenarios/a.yaml", "status": "passed", "worst_outage_ms": 47.44}],
        "debian-6.1": [
            {"path": "scenarios/a.yaml", "status": "failed", "worst_outage_ms": 101.0},
            {"path": "scenarios/b.yaml", "status": "passed", "worst_outage_ms": 0.0},
        ],
    }
    lines = render.compare(records).splitlines()
    assert lines[:2] == ["[1] lab", "[2] debian-6.1"]
    row = next(line for line in lines if line.startswith("scenarios/a.yaml")).split()
    assert row == ["scenarios/a.yaml", "PASS", "47.4", "FAIL", "101.0"]
    assert next(line for line in lines if line.startswith("scenarios/b.yaml")).split()[1:3] == ["-", "-"]
    run = matrix.KernelRun("lab", 0, 12.0, str(tmp_path))
    (tmp_path / "results.json").write_text(json.dumps(records["lab"]))
    assert run.results() == records["lab"]
    (tmp_path / "results.json").write_text(json.dumps({"counts": {}, "results": records["lab"]}))
    assert run.results() == records["lab"]  # conformance's shape


def test_run_refuses_an_unknown_kernel_before_booting_anything():
    proc = subprocess.run(
        [sys.executable, "-m", "bondlab", "run", "--kernel", "nope", "scenarios/modes/active-backup.yaml"],
        capture_output=True,
        text=True,
        env=dict(os.environ, BONDLAB_CACHE="/nonexistent"),
    )
    assert proc.returncode == 2
    assert "unknown kernel nope" in proc.stderr


def test_run_takes_engine_as_the_readme_says_and_names_a_wrong_one():
    proc = subprocess.run(
        [sys.executable, "-m", "bondlab", "run", "--engine", "vmware", "scenarios/modes/active-backup.yaml"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 125, proc.stderr
    assert proc.stderr.strip() == "bondlab: unknown engine 'vmware'; choose one of: auto, host, uml, qemu"
