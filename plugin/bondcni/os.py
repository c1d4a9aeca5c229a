"""The part of `os` the plugin uses, built on `posix` alone: `from . import os`, read as os.X as everywhere.

`python3 -IS` starts without `os`; importing it loads os, posixpath, genericpath, stat and _collections_abc
(~25 abstract classes built on every exec): ~13 ms of an exec in the lab VM, where the whole budget over the
interpreter's own start is a few tens of ms. `posix` is built in and already loaded, and it is what `os`
forwards to for every system call here; only these helpers are os's own Python.  POSIX only, like the plugin.

Named `os` because that is what every caller calls it. It shadows nothing: imports are absolute, so
`import os` anywhere (here: _bytecode_cache.py) is the standard library's, and plugin/bondcni itself is never
on sys.path (bin/bond, its byte-code cache and the standalone bundle all put the folder above it there).
"""

import sys
from _stat import S_ISDIR, S_ISREG  # built in, like posix (state.py reads modes the same way)
from posix import *  # noqa: F401,F403 - the system calls and O_*/X_OK constants, as os exports them
from posix import environ as _environ_bytes
from posix import mkdir, stat

sep = "/"
pathsep = ":"

# os.environ itself where os is loaded (tests, the lab: it follows their changes); else the exec's
# environment, decoded as os decodes it (UTF-8, surrogateescape).
_decode = {"encoding": "utf-8", "errors": "surrogateescape"}
environ = (
    sys.modules["os"].environ
    if "os" in sys.modules
    else {k.decode(**_decode): v.decode(**_decode) for k, v in _environ_bytes.items()}
)


def _mode(path: str) -> int:
    try:
        return stat(path).st_mode
    except (OSError, ValueError):
        return 0


class path:  # lower-case: read as os.path.X
    """posixpath's join/basename/dirname and genericpath's exists/isfile/isdir, for str paths."""

    @staticmethod
    def join(first: str, *rest: str) -> str:
        joined = first
        for part in rest:
            if part.startswith("/"):
                joined = part
            elif not joined or joined.endswith("/"):
                joined += part
            else:
                joined += "/" + part
        return joined

    @staticmethod
    def basename(p: str) -> str:
        return p[p.rfind("/") + 1 :]

    @staticmethod
    def dirname(p: str) -> str:
        head = p[: p.rfind("/") + 1]
        return head.rstrip("/") or head

    @staticmethod
    def exists(p: str) -> bool:
        return _mode(p) != 0

    @staticmethod
    def isfile(p: str) -> bool:
        return S_ISREG(_mode(p))

    @staticmethod
    def isdir(p: str) -> bool:
        return S_ISDIR(_mode(p))


def makedirs(name: str, mode: int = 0o777, exist_ok: bool = False) -> None:
    """os.makedirs: the missing parents first, then name."""
    parent = path.dirname(name)
    if parent and parent != name and not path.exists(parent):
        makedirs(parent, mode, exist_ok=True)
    try:
        mkdir(name, mode)
    except OSError:
        if not (exist_ok and path.isdir(name)):
            raise
