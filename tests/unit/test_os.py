"""bondcni.os (the plugin's `os` from posix alone) answers as os/posixpath do for what the plugin asks."""

import os
import posixpath
import subprocess
import sys
from pathlib import Path

import pytest

from bondcni import os as plugin_os

PATHS = ["/", "/a", "/a/", "/a/b", "a", "a/b", "a//b/", "", "//a", "/var/lib/cni/bond/x.json"]


@pytest.mark.parametrize("p", PATHS)
def test_basename_and_dirname_match_posixpath(p):
    assert plugin_os.path.basename(p) == posixpath.basename(p)
    assert plugin_os.path.dirname(p) == posixpath.dirname(p)


@pytest.mark.parametrize("parts", [("/a", "b"), ("/a/", "b"), ("a", "/b", "c"), ("", "b"), ("/a", "b/", "c")])
def test_join_matches_posixpath(parts):
    assert plugin_os.path.join(*parts) == posixpath.join(*parts)


def test_kinds_and_makedirs(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    for p in (str(tmp_path), str(f), str(tmp_path / "missing"), "bad\0path"):
        assert plugin_os.path.exists(p) == os.path.exists(p)
        assert plugin_os.path.isfile(p) == os.path.isfile(p)
        assert plugin_os.path.isdir(p) == os.path.isdir(p)
    deep = str(tmp_path / "x" / "y" / "z")
    plugin_os.makedirs(deep, 0o700)
    assert os.path.isdir(deep)
    plugin_os.makedirs(deep, exist_ok=True)
    with pytest.raises(FileExistsError):
        plugin_os.makedirs(deep)
    with pytest.raises(OSError):
        plugin_os.makedirs(str(f / "under-a-file"), exist_ok=True)


def test_environ_is_os_environ_where_os_is_loaded():
    assert plugin_os.environ is os.environ


def test_it_shadows_no_os_the_package_imports():
    """`import os` inside bondcni (the byte-code cache) is the standard library's, in a bare -IS exec too."""
    code = (
        f"import sys; sys.path.insert(0, {str(Path(plugin_os.__file__).parents[1])!r})\n"
        "import bondcni.os, bondcni._bytecode_cache as cache\n"
        "print(cache.os is sys.modules['os'], bondcni.os is not cache.os, hasattr(cache.os, 'fspath'))"
    )
    out = subprocess.run([sys.executable, "-IS", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True"]
