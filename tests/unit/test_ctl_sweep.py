"""Stale one-shot VM control directories are swept by their mark, age and liveness (no root, no VM)."""

from __future__ import annotations

import os
import subprocess
import tempfile

from bondlab.vm import guest


def make(root, name: str, marked: bool = True, age: float = 3600.0) -> str:
    path = os.path.join(root, name)
    os.makedirs(path)
    if marked:
        with open(os.path.join(path, "guest.env"), "w") as stream:
            stream.write("BONDLAB_CWD=/\n")
    when = os.stat(path).st_mtime - age
    os.utime(path, (when, when))
    return path


def test_only_old_marked_unused_directories_go(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = make(tmp_path, "bondlab-vm-stale")
    fresh = make(tmp_path, "bondlab-vm-fresh", age=0)
    unmarked = make(tmp_path, "bondlab-vm-notours", marked=False)
    other = make(tmp_path, "someone-else")
    live = make(tmp_path, "bondlab-vm-live")
    with subprocess.Popen(["sh", "-c", "sleep 30", live]) as holder:  # a running VM names its directory
        try:
            assert guest.sweep_stale_ctl_dirs() == [stale]
        finally:
            holder.kill()
    assert not os.path.exists(stale)
    assert all(os.path.isdir(p) for p in (fresh, unmarked, other, live))
