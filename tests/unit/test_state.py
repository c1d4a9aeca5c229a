"""The state record: atomic writes without leftovers, validation, the directory's rules, the locks."""

import multiprocessing
import os

import pytest

from bondcni import errors, state
from bondcni.errors import CniError

RECORD = {
    "version": 2,
    "network": "n",
    "containerID": "ctr1",
    "ifname": "bond0",
    "netns": "/var/run/netns/x",
    "linksInContainer": False,
    "ipam": "host-local",
    "slaves": [
        {
            "name": "eth1",
            "index": 7,
            "mac": "02:00:00:00:00:01",
            "perm_mac": "",
            "mtu": 1500,
            "up": True,
            "origin": "host",
            "pci": "0000:03:02.0",
            "path": "links[0]",
        }
    ],
}


def test_write_read_remove(tmp_path):
    d = state.ensure_dir(str(tmp_path / "d"))
    path = state.path(d, "ctr1", "bond0")
    state.write(path, RECORD)
    assert state.read(path) == RECORD
    assert os.listdir(d) == ["ctr1-bond0.json"]  # no temp file left
    assert os.stat(path).st_mode & 0o777 == 0o600 and os.stat(d).st_mode & 0o777 == 0o700
    assert [r for _, r in state.records(d)] == [RECORD]
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


def test_a_state_file_that_is_a_symlink_is_not_followed(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text('{"version": 2}')
    (tmp_path / "c-b.json").symlink_to(secret)
    with pytest.raises(CniError) as info:
        state.read(str(tmp_path / "c-b.json"))
    assert info.value.code == errors.STATE


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_a_state_dir_others_can_write_is_refused(tmp_path, mode):
    d = tmp_path / "d"
    d.mkdir()
    d.chmod(mode)
    with pytest.raises(CniError) as info:
        state.ensure_dir(str(d))
    assert info.value.code == errors.STATE and "root" in info.value.msg


def test_a_state_dir_that_is_a_symlink_is_refused(tmp_path):
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(CniError):
        state.ensure_dir(str(tmp_path / "link"))


def test_temp_files_of_dead_writers_are_swept(tmp_path):
    dead = tmp_path / f".x-b.json{state.TEMP_MARK}999999999"
    dead.write_text("{}")
    alive = tmp_path / f".y-b.json{state.TEMP_MARK}{os.getpid()}"
    alive.write_text("{}")
    list(state.records(str(tmp_path)))
    assert not dead.exists() and alive.exists()


def test_validate_accepts_what_add_writes():
    assert state.validate(dict(RECORD), "ctr1", "bond0", "f") == RECORD


@pytest.mark.parametrize(
    "change",
    [
        {"containerID": "other"},
        {"ifname": "eth0"},
        {"ipam": "/bin/sh"},
        {"ipam": "../../bin/sh"},
        {"version": 99},
        {"slaves": "eth0"},
        {"slaves": [{"name": "a/b", "index": 1, "origin": "host"}]},
        {"slaves": [{"name": "eth0", "index": "1", "origin": "host"}]},
        {"slaves": [{"name": "eth0", "index": 1, "origin": "elsewhere"}]},
        {"slaves": [{"name": "eth0", "index": 1, "origin": "host", "pci": "../../x"}]},
        {"slaves": [{"name": "eth0", "index": 1, "origin": "host", "mac": "zz"}]},
    ],
)
def test_validate_refuses_a_record_we_did_not_write(change):
    with pytest.raises(CniError) as info:
        state.validate(dict(RECORD, **change), "ctr1", "bond0", "f")
    assert info.value.code == errors.STATE and "not acted on" in info.value.msg


def _hold(filename, ready, release):
    lock = state.Lock(filename, "x")
    assert lock.acquire(5)
    ready.set()
    release.wait(10)
    lock.release(remove=True)


def test_lock_excludes_and_times_out_with_code_11(tmp_path):
    lock_file = str(tmp_path / ".lock")
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(lock_file, ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(CniError) as info:
            state.Lock(lock_file, "the thing").acquire_or_fail(0.2)
        assert info.value.code == errors.TRY_AGAIN_LATER and "the thing is busy" in info.value.msg
    finally:
        release.set()
        holder.join(10)
    lock = state.Lock(lock_file, "x")
    assert lock.acquire(1)  # the holder removed the file: a new one is locked
    lock.release(remove=True)
    assert os.listdir(tmp_path) == []


def test_a_waiter_on_a_removed_lock_file_locks_the_new_one(tmp_path):
    """The holder removes the file on release; a waiter that opened the old inode must not think it holds."""
    lock_file = str(tmp_path / ".lock")
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(lock_file, ready, release))
    holder.start()
    assert ready.wait(10)
    release.set()
    waiter = state.Lock(lock_file, "x")
    assert waiter.acquire(10)
    assert os.stat(lock_file).st_ino == os.fstat(waiter.fd).st_ino
    holder.join(10)
    waiter.release()
