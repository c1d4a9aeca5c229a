"""The verbs on a deployed lab, driven as a user drives them (`python -m bondlab VERB ...` processes) on a
real kernel: seed 000 (fixed) deployed, its active VF cut and restored, the bond watched, the lab destroyed
and nothing left."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.lab.conftest import SEEDS

pytestmark = pytest.mark.kernel


def bondlab(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "bondlab", *args], capture_output=True, text=True, timeout=timeout
    )
    if check:
        assert proc.returncode == 0, f"bondlab {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture
def seed000(lab_state, untouched):
    bondlab("deploy", str(SEEDS / "000-sriov-bond-fixed.yaml"))
    try:
        yield
    finally:
        done = bondlab("destroy", check=False)
        assert done.returncode == 0 and "destroyed" in done.stdout, done.stderr


def test_cut_restore_and_watch_on_a_deployed_lab(seed000):
    cut = bondlab("cut", "--vf", "test-pod/net1").stdout
    assert "cut vf=test-pod/net1: done" in cut
    assert "active net1 -> net2" in cut and "net1 mii UP -> DOWN" in cut, cut
    assert "active net2" in cut

    # watch sees the restore (run in the background, bounded by --count and --duration)
    watch = subprocess.Popen(
        [sys.executable, "-m", "bondlab", "watch", "test-pod", "--count", "2", "--duration", "20"],
        stdout=subprocess.PIPE,
        text=True,
    )
    first = watch.stdout.readline()  # its first reading: the restore comes after it
    assert "default/test-pod bond0: active net2" in first and "net1:mii=DOWN" in first, first
    restore = bondlab("restore", "--vf", "test-pod/net1").stdout
    assert "net1 mii DOWN -> UP" in restore, restore
    rest, _ = watch.communicate(timeout=30)
    assert watch.returncode == 0 and "default/test-pod: net1 mii DOWN -> UP" in rest, rest
    assert "default/test-pod: net1 carrier down -> up" in rest, rest

    active = bondlab("set-active", "test-pod/net1").stdout
    assert "setActive link=test-pod/net1: done" in active and "active net2 -> net1" in active, active
    loss = bondlab("netem", "--vf", "test-pod/net2", "--loss", "10", "--delay", "5ms").stdout
    assert "netem vf=test-pod/net2 loss=10.0 delay=5ms: done" in loss and "(no change)" in loss, loss
    bondlab("netem", "--vf", "test-pod/net2", "--clear")

    lab = json.loads(bondlab("inspect", "--format", "json").stdout)
    (pod,) = lab["pods"]
    assert pod["key"] == "default/test-pod" and pod["netns"].endswith("-pod-default-test-pod")
    bond = pod["bond"]
    assert (bond["ifname"], bond["mode"], bond["active"]) == ("bond0", "active-backup", "net1")
    assert [(s["ifname"], s["mii"], s["pf"], s["vf"]) for s in bond["slaves"]] == [
        ("net1", "UP", "node1/ens1f0", 0),
        ("net2", "UP", "node1/ens2f0", 0),
    ]
    assert [vf["ifname"] for pf in lab["pfs"] for vf in pf["vfs"]] == ["net1", "net2"]
    assert {peer["name"] for peer in lab["peers"]} >= {"gw"}
    picture = bondlab("graph", "--format", "dot").stdout
    assert 'bond_default_test_pod_bond0 -- if_default_test_pod_net1 [label="active"' in picture

    wrong = bondlab("cut", "--vf", "test-pod/net9", check=False)
    assert wrong.returncode == 1 and "test-pod/net9" in wrong.stderr and "Traceback" not in wrong.stderr


def test_capture_and_save_on_a_deployed_lab(seed000, tmp_path):
    pcap = tmp_path / "net1.pcap"
    capture = subprocess.Popen(
        [sys.executable, "-m", "bondlab", "capture", "test-pod/net1", "-w", str(pcap), "-c", "2"]
        + ["--duration", "20", "icmp"],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert "listening on net1" in capture.stderr.readline()
    bondlab("exec", "test-pod", "--", "ping", "-c", "2", "-i", "0.2", "10.56.217.1")
    capture.communicate(timeout=30)
    assert capture.returncode == 0
    data = pcap.read_bytes()
    assert data[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4") and len(data) > 24 + 2 * 16

    out = bondlab("save", str(tmp_path / "bundle")).stdout
    assert "support bundle in" in out
    bundle = tmp_path / "bundle"
    lab = json.loads((bundle / "inspect.json").read_text())
    assert lab["pods"][0]["bond"]["ifname"] == "bond0"
    dumped = {path.stem for path in (bundle / "netns").glob("*.json")}
    assert lab["pods"][0]["netns"] in dumped and any(name.endswith("-fabric") for name in dumped)
    assert "active-backup" in (bundle / "bonding" / "test-pod_bond0.txt").read_text()
    assert (bundle / "lab" / "lab.json").exists() and (bundle / "lab" / "undo.log").exists()
    assert json.loads((bundle / "plugin" / "settings.json").read_text())["state_dir"]
    # the plugin's state of the pod's bond, on the pod's node's own disk
    (record,) = (bundle / "lab" / "nodes" / "node1" / "var-lib-cni" / "bond").glob("*-bond0.json")
    assert json.loads(record.read_text())
