"""bin/bond's layout: how the file starts the plugin and where each minor's byte-code sits (build time only).

    line 1   #!/usr/bin/python3 -IScCODE      the launcher: opens the file itself and execs line 2
    line 2   import marshal as m,sys;...      picks the boot from the marshalled dict that follows it:
    boots    {"311": the boot compiled by 3.11, ..., "": the fallback boot's source}; the boot serves the
             running minor's byte-code from below (the fallback: from the zip's sources, compiled once)
    code     a marshalled table {"311": (index offset, index size, code offset)}, then per minor the
             marshalled index {module: (is package, offset, size)} and the modules' code back to back
    zip      LICENSE(s), the sources (for a minor without byte-code) and a __main__.py for `python3 bin/bond`

Why not a plain zipapp: python3 starts a #!python3 zipapp through runpy (~20 modules more per exec), and
importing from a zip on sys.path parses its directory in Python and goes through importlib's path machinery
for every module. Here an exec reads line 2, the boots, the table, the minor's index, and then one pread per
module it imports, nothing else. The zip after the prepended data stays a valid zip (readers skip what comes
first, as for any #! zipapp), so `unzip -l bin/bond` and `python3 bin/bond` still work.
"""

from __future__ import annotations

import marshal
import os
import time
import zipfile
from typing import Dict, Tuple

# Linux passes everything after the interpreter's path as one argument, and python reads `-IScCODE` as
# -I -S -c CODE, so the #! line itself is the launcher (the file's path comes next in argv). Not a sh
# script that execs python3: one exec of /bin/sh less per call.
LAUNCH_CODE = "import sys;a=sys.argv;z=a.pop(1);a[0]=z;f=open(z,'rb');f.readline();exec(f.readline())"
SHEBANG_MAX = 127  # Linux before 5.1 reads 128 bytes of a #! line (newline included) and cuts the rest

# Line 2 picks the boot: the running minor's compiled boot (marshalled code, so no source is compiled on
# the way: a first compile() touches ~30-50 pages more, each a trap to the host in the lab VM), or for a
# minor without byte-code the fallback boot's source. Both run in __main__ with `z` (this file's path) and
# `f` (this file, read up to the table) from line 1.
SELECT = "import marshal as m,sys;d=m.load(f);exec(m.loads(d.get('%d%d'%sys.version_info[:2],d[''])))\n"

# Only the modules a command imports are read and unmarshalled: in the lab VM every page a process touches
# first is a trap to the host.
BOOT_PACKED = """\
import marshal, sys
from posix import pread
from _frozen_importlib import ModuleSpec

_index_at, _index_size, _code_at = marshal.loads(f.read(int.from_bytes(f.read(4), "little")))[
    "%d%d" % sys.version_info[:2]
]
_fd = f.fileno()
_index = marshal.loads(pread(_fd, _index_size, _index_at))


class _PackFinder:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        entry = _index.get(name)
        return None if entry is None else ModuleSpec(name, cls, origin=z, is_package=entry[0])

    @staticmethod
    def create_module(spec):
        return None

    @staticmethod
    def exec_module(module):
        _, offset, size = _index[module.__spec__.name]
        exec(marshal.loads(pread(_fd, size, _code_at + offset)), module.__dict__)


sys.meta_path.insert(0, _PackFinder)
"""

# Another minor compiles the zip's sources once into a byte-code cache (bondcni/_bytecode_cache.py).
BOOT_FALLBACK = """\
import sys

sys.path.insert(0, z)
from bondcni._bytecode_cache import enable

enable(z, {digest!r})
"""

BOOT_MAIN = """\
if sys.argv[1:] == ["--version"]:
    from bondcni._build import BUILD_INFO

    print("bond", BUILD_INFO["version"], "commit", BUILD_INFO["commit"], "built", BUILD_INFO["buildDate"])
    raise SystemExit(0)
from bondcni.__main__ import main

raise SystemExit(main())
"""
BOOT_SOURCE = BOOT_PACKED + BOOT_MAIN  # what bond.py compiles with each minor

# `python3 bin/bond` runs the zip's __main__.py (through runpy): the same start as the #! line's.
ZIP_MAIN = "import sys\nz = sys.argv[0]\nf = open(z, 'rb')\nf.readline()\nexec(f.readline())\n"


class LayoutError(Exception):
    pass


def launcher(interpreter: str) -> bytes:
    """`#!PATH -FLAGScCODE`: the interpreter is an absolute path and at most one group of one-letter flags."""
    words = interpreter.split()
    if not words or not words[0].startswith("/") or len(words) > 2:
        raise LayoutError(
            f"the interpreter {interpreter!r} must be an absolute path and optional flags (-IS)"
        )
    flags = words[1] if len(words) == 2 else "-"
    if not (flags.startswith("-") and (flags == "-" or flags[1:].isalpha()) and "c" not in flags):
        raise LayoutError(f"the interpreter's flags {flags!r} must be one group of letters, like -IS")
    line = f"#!{words[0]} {flags}c{LAUNCH_CODE}\n".encode()
    if len(line) > SHEBANG_MAX:
        raise LayoutError(f"the #! line is {len(line)} bytes; kernels before 5.1 read {SHEBANG_MAX}")
    return line


def boot_region(boots: Dict[str, bytes], digest: str) -> bytes:
    """Line 2 and the boots: {"311": BOOT_SOURCE compiled by 3.11, ..., "": the fallback boot's source}."""
    fallback = marshal.dumps((BOOT_FALLBACK + BOOT_MAIN).format(digest=digest), 4)
    return SELECT.encode() + marshal.dumps({**boots, "": fallback}, 4)


def pack(modules: Dict[str, Tuple[bool, bytes]]) -> Tuple[bytes, bytes]:
    """One minor's byte-code: (its marshalled index {module: (is package, offset, size)}, the code)."""
    index, offset = {}, 0
    for name in sorted(modules):
        is_package, code = modules[name]
        index[name] = (is_package, offset, len(code))
        offset += len(code)
    return marshal.dumps(index, 4), b"".join(modules[name][1] for name in sorted(modules))


def code_region(start: int, packs: Dict[str, Tuple[bytes, bytes]]) -> bytes:
    """The table and the packs ({"311": pack()}) as they sit at file offset start. Marshal format 4: every
    python3 >= 3.9 reads it."""

    def table(size: int) -> dict:
        at, placed = start + 4 + size, {}
        for tag in sorted(packs):
            index, code = packs[tag]
            placed[tag] = (at, len(index), at + len(index))
            at += len(index) + len(code)
        return placed

    size = 0
    while len(marshal.dumps(table(size), 4)) != size:  # the offsets depend on the table's own size
        size = len(marshal.dumps(table(size), 4))
    head = marshal.dumps(table(size), 4)
    return len(head).to_bytes(4, "little") + head + b"".join(i + c for _, (i, c) in sorted(packs.items()))


def read_packs(path: str) -> Dict[str, Dict[str, Tuple[bool, bytes]]]:
    """The byte-code in a built file, for tests and inspection: {"311": {module: (is package, code)}}."""
    with open(path, "rb") as fh:
        fh.readline()
        fh.readline()
        marshal.load(fh)  # the boots
        table = marshal.loads(fh.read(int.from_bytes(fh.read(4), "little")))
        fh.seek(0)
        data = fh.read()
    found = {}
    for tag, (index_at, index_size, code_at) in table.items():
        index = marshal.loads(data[index_at : index_at + index_size])
        found[tag] = {n: (pkg, data[code_at + o : code_at + o + s]) for n, (pkg, o, s) in index.items()}
    return found


def write(
    output: str,
    interpreter: str,
    digest: str,
    boots: Dict[str, bytes],
    packs: dict,
    entries: Dict[str, bytes],
    epoch: int,
) -> None:
    """The file, whose bytes depend only on the interpreter line, the boots and packs, the zip's entries, the
    epoch."""
    head = launcher(interpreter) + boot_region(boots, digest)
    date_time = time.gmtime(epoch)[:6]
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    tmp = output + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(head + code_region(len(head), packs))
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
            for name in sorted({**entries, "__main__.py": ZIP_MAIN.encode()}):
                info = zipfile.ZipInfo(name, date_time)
                info.create_system = 3  # unix, so that external_attr means a mode
                info.external_attr = 0o100644 << 16
                zf.writestr(info, entries.get(name, ZIP_MAIN.encode()))
    os.chmod(tmp, 0o755)
    os.utime(tmp, (epoch, epoch))
    os.replace(tmp, output)
