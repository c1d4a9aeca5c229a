"""The lab VM runner itself, driven as a user drives it: the `bondlab vm` command line.

These run on the host (they start the VM themselves) and check the promises of the runner: exit
codes come back, output streams, bad input gives one clear message, and whatever way a run ends
(done, timeout, Ctrl-C, SIGTERM, panic) nothing is left on the host.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bondlab import vm
from bondlab.util.wait import Timeout, until
from bondlab.vm import kernels

pytestmark = pytest.mark.vm
BONDLAB = [sys.executable, "-m", "bondlab"]


@pytest.fixture(scope="module", autouse=True)
def uml_engine():
    verdict = vm.engines()["uml"].available()
    if not verdict:
        pytest.skip(f"the uml engine cannot run here: {verdict.reason}")


def host_state() -> dict:
    """What a run must leave exactly as it found it on the host."""
    links = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout)
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    with open("/proc/self/mounts") as mounts:
        mount_list = sorted(mounts.read().splitlines())
    return {
        "links": sorted((link["ifname"], link.get("address")) for link in links),
        "netns": netns.split(),
        "mounts": mount_list,
        "uml processes": uml_processes(),
        "control dirs": sorted(name for name in os.listdir("/tmp") if name.startswith("bondlab-vm-")),
    }


def uml_processes() -> list:
    kernel = str(kernels.find_kernel().path)
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/exe") == kernel:
                found.append(int(pid))
        except OSError:
            pass
    return found


# A state directory of our own: `bondlab vm -- CMD` goes to a lab VM that is up, and these tests must
# boot their own guests, not use one a developer left running.
PRIVATE_STATE = f"/tmp/bondlab-test-state-{os.getpid()}"


def bondlab(*args, timeout=120, env=None, **kwargs):
    env = dict(os.environ if env is None else env)
    env.setdefault("BONDLAB_STATE", PRIVATE_STATE)
    return subprocess.run(
        [*BONDLAB, *args], capture_output=True, text=True, timeout=timeout, env=env, **kwargs
    )


def leftovers(before: dict, after: dict) -> dict:
    """What a run added to the host and left there. Links and mounts must be exactly as before;
    for processes, netns and control dirs only additions count (other runs may end meanwhile)."""
    found = {}
    for key in before:
        if key in ("links", "mounts"):
            if before[key] != after[key]:
                found[key] = (before[key], after[key])
        else:
            added = set(after[key]) - set(before[key])
            if added:
                found[key] = sorted(added)
    return found


@pytest.fixture
def unchanged_host():
    before = host_state()
    yield
    try:
        until(lambda: not leftovers(before, host_state()), 10, "the host is back to how it was")
    except Timeout:
        pytest.fail(f"the run left the host changed: {leftovers(before, host_state())}")


def test_exit_code_and_output_come_back(unchanged_host):
    proc = bondlab("vm", "--engine", "uml", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert proc.returncode == 7
    assert "out\n" in proc.stdout and "err\n" in proc.stdout


def test_the_guest_can_bond_and_leaves_the_host_alone(unchanged_host):
    script = (
        "ip netns add g && ip -n g link add b0 type bond && ip -n g link add v0 type veth && ip -n g -br link"
    )
    proc = bondlab("vm", "--engine", "uml", "--", "sh", "-c", script)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "b0" in proc.stdout


def test_only_shared_directories_write_back(tmp_path, unchanged_host):
    shared = tmp_path / "results"
    proc = bondlab(
        "vm", "--engine", "uml", "--rw", str(shared), "--",
        "sh", "-c", f"echo kept > {shared}/kept && echo gone > {tmp_path}/gone && touch scratch-in-cwd",
        cwd=str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (shared / "kept").read_text() == "kept\n"
    assert not (tmp_path / "gone").exists() and not (tmp_path / "scratch-in-cwd").exists()


def test_unknown_engine_is_one_clear_error():
    proc = bondlab("vm", "--engine", "vmware", "--", "true")
    assert proc.returncode == 125
    assert proc.stderr.strip() == "bondlab: unknown engine 'vmware'; choose one of: auto, host, uml, qemu"


def test_missing_kernel_is_one_clear_error(unchanged_host):
    proc = bondlab(
        "vm", "--engine", "uml", "--", "true", env=dict(os.environ, BONDLAB_KERNEL="/nonexistent/linux")
    )
    assert proc.returncode == 125
    assert "BONDLAB_KERNEL=/nonexistent/linux is not an executable UML kernel" in proc.stderr


def test_a_hung_guest_job_is_killed_at_the_time_limit(unchanged_host):
    started = time.monotonic()
    proc = bondlab("vm", "--engine", "uml", "--timeout", "2", "--", "sleep", "600")
    assert proc.returncode == 124
    assert "did not finish within 2 s" in proc.stderr
    assert time.monotonic() - started < 60


def test_a_guest_panic_is_reported(unchanged_host):
    proc = bondlab(
        "vm",
        "--engine",
        "uml",
        "--",
        "sh",
        "-c",
        "echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger",
    )
    assert proc.returncode == 125
    assert "panicked" in proc.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupting_the_runner_stops_the_guest(tmp_path, signum, unchanged_host):
    started = tmp_path / "started"
    runner = subprocess.Popen(
        [
            *BONDLAB,
            "vm",
            "--engine",
            "uml",
            "--rw",
            str(tmp_path),
            "--",
            "sh",
            "-c",
            f"touch {started}; sleep 600",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, BONDLAB_STATE=PRIVATE_STATE),
        # as a foreground command: a suite started in the background (`cmd &`) inherits SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    until(started.exists, 60, "the job started in the guest")
    runner.send_signal(signum)
    _, err = runner.communicate(timeout=30)
    assert runner.returncode == 130
    assert "interrupted" in err


def test_what_a_sigkilled_runner_left_goes_with_the_next_run(tmp_path, unchanged_host):
    """SIGKILL cannot be caught: the VM (its own session) outlives the runner; the next run stops it and
    removes its control directory."""
    started = tmp_path / "started"
    env = dict(os.environ, BONDLAB_STATE=PRIVATE_STATE)
    argv = [*BONDLAB, "vm", "--engine", "uml", "--rw", str(tmp_path), "--", "sh", "-c"]
    runner = subprocess.Popen([*argv, f"touch {started}; sleep 600"], env=env, stdout=subprocess.DEVNULL)
    until(started.exists, 60, "the job started in the guest")
    runner.kill()
    runner.wait()
    assert uml_processes(), "the VM outlives a runner killed with SIGKILL"
    again = subprocess.run([*argv, "true"], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr


def test_a_vm_that_stays_up(tmp_path, unchanged_host):
    name = f"t{os.getpid()}"
    env = dict(os.environ, BONDLAB_STATE=str(tmp_path / "state"))
    up = bondlab("vm", "up", "--name", name, env=env)
    try:
        assert up.returncode == 0, up.stderr
        first = bondlab(
            "vm", "exec", "--name", name, "--", "sh", "-c", "ip link add b1 type bond; echo made", env=env
        )
        assert (first.returncode, first.stdout) == (0, "made\n")
        # The same guest answers the next command: the bond made by the first is still there.
        second = bondlab("vm", "exec", "--name", name, "--", "ip", "-br", "link", "show", "b1", env=env)
        assert second.returncode == 0 and second.stdout.startswith("b1")
        # A file the host changes between two commands is seen changed (hostfs caches are dropped).
        edited = tmp_path / "edited.txt"
        for content in ("first\n", "second, longer\n"):
            edited.write_text(content)
            seen = bondlab("vm", "exec", "--name", name, "--", "cat", str(edited), env=env)
            assert seen.stdout == content
        failing = bondlab("vm", "exec", "--name", name, "--", "sh", "-c", "exit 4", env=env)
        assert failing.returncode == 4
        slow = bondlab("vm", "exec", "--name", name, "--timeout", "1", "--", "sleep", "600", env=env)
        assert slow.returncode == 124
    finally:
        down = bondlab("vm", "down", "--name", name, env=env)
    assert down.returncode == 0
    assert bondlab("vm", "status", "--name", name, env=env).returncode == 3


def test_the_failover_test_passes_in_qemu_too(unchanged_host):
    """The qemu engine runs the same real-kernel test on a distribution kernel (bonding as a module)."""
    verdict = vm.engines()["qemu"].available()
    if not verdict:
        pytest.skip(f"the qemu engine cannot run here: {verdict.reason}")
    proc = bondlab(
        "vm", "--engine", "qemu", "--timeout", "900", "--",
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/kernel/test_failover.py",
        timeout=1200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "1 passed" in proc.stdout
