"""lean_os (the plugin's `os` from posix alone) answers as os/posixpath do for what the plugin asks."""

import os
import posixpath

import pytest

from bondcni import lean_os

PATHS = ["/", "/a", "/a/", "/a/b", "a", "a/b", "a//b/", "", "//a", "/var/lib/cni/bond/x.json"]


@pytest.mark.parametrize("p", PATHS)
def test_basename_and_dirname_match_posixpath(p):
    assert lean_os.path.basename(p) == posixpath.basename(p)
    assert lean_os.path.dirname(p) == posixpath.dirname(p)


@pytest.mark.parametrize("parts", [("/a", "b"), ("/a/", "b"), ("a", "/b", "c"), ("", "b"), ("/a", "b/", "c")])
def test_join_matches_posixpath(parts):
    assert lean_os.path.join(*parts) == posixpath.join(*parts)


def test_kinds_and_makedirs(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    for p in (str(tmp_path), str(f), str(tmp_path / "missing"), "bad\0path"):
        assert lean_os.path.exists(p) == os.path.exists(p)
        assert lean_os.path.isfile(p) == os.path.isfile(p)
        assert lean_os.path.isdir(p) == os.path.isdir(p)
    deep = str(tmp_path / "x" / "y" / "z")
    lean_os.makedirs(deep, 0o700)
    assert os.path.isdir(deep)
    lean_os.makedirs(deep, exist_ok=True)
    with pytest.raises(FileExistsError):
        lean_os.makedirs(deep)
    with pytest.raises(OSError):
        lean_os.makedirs(str(f / "under-a-file"), exist_ok=True)


def test_environ_is_os_environ_where_os_is_loaded():
    assert lean_os.environ is os.environ
