"""What a runner killed with SIGKILL leaves - its VM control directory and the VM still running on it - is
swept by its marks, its runner's death and liveness (no root, no VM: stand-in processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from bondlab.util import procs
from bondlab.util.wait import until
from bondlab.vm import guest


def make(root, name: str, marked: bool = True, age: float = 3600.0, runner: str = "") -> str:
    path = os.path.join(root, name)
    os.makedirs(path)
    if marked:
        with open(os.path.join(path, "guest.env"), "w") as stream:
            stream.write("BONDLAB_CWD=/\n")
    if runner:
        with open(os.path.join(path, guest.RUNNER_FILE), "w") as stream:
            stream.write(runner)
    when = os.stat(path).st_mtime - age
    os.utime(path, (when, when))
    return path


def dead_runner() -> str:
    """`PID STARTTIME` of a process that has exited."""
    proc = subprocess.Popen(["true"])
    line = f"{proc.pid} {procs.start_time(proc.pid)}\n"
    proc.wait()
    return line


def fake_vm(ctl: str) -> subprocess.Popen:
    """A process whose command line names `ctl` for its whole life, as a lab VM's does; returned once /proc
    shows it (`sh -c "sleep 30" DIR` was flaky: dash execs sleep in its place and the name goes away)."""
    argv = [sys.executable, "-c", "import time; time.sleep(30)", ctl]
    proc = subprocess.Popen(argv, start_new_session=True)
    until(lambda: ctl in procs.command_line(proc.pid), 10, f"process {proc.pid} names {ctl}")
    return proc


def test_only_old_marked_unused_directories_go(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = make(tmp_path, "bondlab-vm-stale")
    fresh = make(tmp_path, "bondlab-vm-fresh", age=0)
    unmarked = make(tmp_path, "bondlab-vm-notours", marked=False)
    other = make(tmp_path, "someone-else")
    live = make(tmp_path, "bondlab-vm-live")
    with fake_vm(live) as vm:
        try:
            assert guest.sweep_stale_ctl_dirs() == [stale]
        finally:
            vm.kill()
    assert not os.path.exists(stale)
    assert all(os.path.isdir(p) for p in (fresh, unmarked, other, live))


def test_a_vm_whose_runner_died_is_stopped_and_its_directory_removed_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    orphan = make(tmp_path, "bondlab-vm-orphan", age=0, runner=dead_runner())
    me = f"{os.getpid()} {procs.start_time(os.getpid())}"
    owned = make(tmp_path, "bondlab-vm-owned", age=0, runner=me)
    vms = [fake_vm(p) for p in (orphan, owned)]
    try:
        assert guest.sweep_stale_ctl_dirs() == [orphan]
        until(lambda: vms[0].poll() is not None, 5, "the orphaned VM stopped")
        assert vms[1].poll() is None and os.path.isdir(owned) and not os.path.exists(orphan)
    finally:
        for vm in vms:
            vm.kill()
            vm.wait()
