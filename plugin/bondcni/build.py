"""Build bin/bond: one executable file (a zipapp) holding bondcni (stdlib only), run by the node's python3.

    python -m bondcni.build [--output bin/bond] [--interpreter "/usr/bin/env python3"]

Sources go in with byte-code compiled by the building Python as unchecked-hash .pyc files next to them
(zipimport cannot write a cache, so without these every run would compile them again); another Python
version ignores them and compiles the sources.
"""

from __future__ import annotations

import argparse
import os
import py_compile
import shutil
import sys
import tempfile
import zipapp
from typing import List, Optional

MAIN = "from bondcni.__main__ import main\n\nraise SystemExit(main())\n"
SKIP_DIRS = {"__pycache__", "tests", "test"}


def _copy_package(src: str, dst: str) -> None:
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        rel = os.path.relpath(dirpath, src)
        out = os.path.join(dst, rel)
        os.makedirs(out, exist_ok=True)
        for name in sorted(filenames):
            if name.endswith(".py") or name in ("py.typed",):
                shutil.copy2(os.path.join(dirpath, name), os.path.join(out, name))


def _compile(tree: str) -> None:
    for dirpath, _, filenames in os.walk(tree):
        for name in filenames:
            if name.endswith(".py"):
                source = os.path.join(dirpath, name)
                py_compile.compile(
                    source,
                    cfile=source + "c",
                    dfile=os.path.relpath(source, tree),
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )


def build(output: str, interpreter: str) -> str:
    bondcni_dir = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory(prefix="bond-build-") as tree:
        _copy_package(bondcni_dir, os.path.join(tree, "bondcni"))
        os.unlink(os.path.join(tree, "bondcni", "build.py"))
        with open(os.path.join(tree, "__main__.py"), "w", encoding="utf-8") as fh:
            fh.write(MAIN)
        _compile(tree)
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        tmp = output + ".tmp"
        zipapp.create_archive(tree, tmp, interpreter=interpreter, compressed=False)
        os.chmod(tmp, 0o755)
        os.replace(tmp, output)
    return output


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bondcni.build", description=__doc__.split("\n")[0])
    parser.add_argument("--output", default="bin/bond", help="where to write the plugin (default: bin/bond)")
    parser.add_argument("--interpreter", default="/usr/bin/env python3", help="the #! line's interpreter")
    opts = parser.parse_args(argv)
    path = build(opts.output, opts.interpreter)
    size = os.path.getsize(path)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    print(f"wrote {path} ({size // 1024} KiB, python {version} byte-code)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
