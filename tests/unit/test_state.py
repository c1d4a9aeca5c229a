"""The state file: atomic writes, the node-wide lock, GC's listing."""

import json
import multiprocessing
import os

import pytest

from bondcni import errors, state
from bondcni.errors import CniError


def test_directory_precedence():
    assert state.directory("/cfg", {"BONDCNI_STATE_DIR": "/env"}) == "/cfg"
    assert state.directory(None, {"BONDCNI_STATE_DIR": "/env"}) == "/env"
    assert state.directory(None, {}) == "/var/lib/cni/bond"


def test_write_read_remove(tmp_path):
    path = state.path(str(tmp_path / "d"), "ctr1", "bond0")
    state.write(path, {"slaves": [{"name": "eth1"}]})
    assert state.read(path) == {"slaves": [{"name": "eth1"}]}
    assert os.listdir(tmp_path / "d") == ["ctr1-bond0.json"]  # no temp file left
    assert [r for _, r in state.records(str(tmp_path / "d"))] == [{"slaves": [{"name": "eth1"}]}]
    state.remove(path)
    state.remove(path)  # twice is fine
    assert state.read(path) is None


def test_unwritable_dir_is_a_state_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CniError) as info:
        state.write(str(blocker / "x.json"), {})
    assert info.value.code == errors.STATE


def test_corrupt_state_is_reported(tmp_path):
    path = tmp_path / "c-b.json"
    path.write_text("{nope")
    with pytest.raises(CniError) as info:
        state.read(str(path))
    assert info.value.code == errors.STATE
    assert list(state.records(str(tmp_path))) == []


def _hold(dirname, ready, release):
    with state.locked(dirname):
        ready.set()
        release.wait(10)


def test_lock_excludes_and_times_out_with_code_11(tmp_path):
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(CniError) as info:
            with state.locked(str(tmp_path), timeout=0.2):
                pass
        assert info.value.code == errors.TRY_AGAIN_LATER
    finally:
        release.set()
        holder.join(10)
    with state.locked(str(tmp_path), timeout=1):
        pass
    assert json.dumps(sorted(os.listdir(tmp_path))) == '[".lock"]'
