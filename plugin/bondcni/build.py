"""Build bin/bond: one executable file (a zip behind a one-line #! launcher) holding bondcni, run by the
node's python3 (>= 3.9).

    python -m bondcni.build [--output bin/bond] [--interpreter "/usr/bin/python3 -IS"] [--python PATH ...]

Reproducible: two builds of one commit are byte-identical. Entries are sorted, their times are
SOURCE_DATE_EPOCH (default: the commit's time), their permissions fixed (0644), the archive is stored
(uncompressed), and the byte-code is unchecked-hash .pyc (no timestamps).

No recompilation on exec: zipimport cannot write a byte-code cache, and it reads only one `.pyc` per
module, which another Python minor ignores (it then compiles every source on every exec). So the archive
holds the byte-code of every python3 minor found on the build machine (py39.pack, py310.pack, ...: see
--python), one entry each, and the archive's __main__ serves the running minor's. The sources stay at the
top level for a minor without byte-code (compiled once into a byte-code cache, _bytecode_cache.py).

Contents: bondcni (without this module), any third-party package bondcni imports (found by reading its
imports; none once the plugin talks rtnetlink itself) with its licence files, LICENSE, and
bondcni/_build.py naming the commit, build date and byte-code minors (`bond --version` prints it).
"""

from __future__ import annotations

import argparse
import ast
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from typing import Dict, List, Optional, Sequence, Tuple

DEFAULT_INTERPRETER = "/usr/bin/python3 -IS"  # what the lab runs: no site, no user paths, no pyenv shim
OLDEST_MINOR, NEWEST_MINOR = 9, 14
EXCLUDED = {"build.py", "standalone.py"}  # build-time only
SKIP_DIRS = {"__pycache__", "tests", "test"}
PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(os.path.dirname(PLUGIN_DIR))

# The archive's entry point.  The running minor's byte-code is one entry, py3NN.pack (see pack()), read in one
# piece and served by a meta-path finder: zipimport opens and reads the archive again for every module, ~15%
# of an ADD in the lab VM. Only the modules a command imports are unmarshalled, from slices of that one read:
# in the lab VM every page a process touches first is a trap to the host (unmarshalling the whole pack into
# one bytes object per module cost 6 ms).  Another minor compiles once into a byte-code
# cache (bondcni/_bytecode_cache.py); `--version` answers from _build.py.
MAIN_TEMPLATE = """\
import marshal
import sys
import zipimport

from _frozen_importlib import ModuleSpec

_archive = sys.path[0]
_pack = "%s/py%d%d.pack" % (_archive, sys.version_info[0], sys.version_info[1])
try:
    _data = zipimport.zipimporter(_archive).get_data(_pack)
except OSError:  # a minor the build had no interpreter for
    _data = None
if _data is not None:
    _start = 4 + int.from_bytes(_data[:4], "little")
    _index = marshal.loads(_data[4:_start])  # module -> (is package, offset, size)
    _code = memoryview(_data)[_start:]

    class _PackFinder:
        @classmethod
        def find_spec(cls, name, path=None, target=None):
            entry = _index.get(name)
            return None if entry is None else ModuleSpec(name, cls, origin=_pack, is_package=entry[0])

        @staticmethod
        def create_module(spec):
            return None

        @classmethod
        def exec_module(cls, module):
            _, offset, size = _index[module.__spec__.name]
            exec(marshal.loads(_code[offset : offset + size]), module.__dict__)

    sys.meta_path.insert(0, _PackFinder)
else:
    from bondcni._bytecode_cache import enable

    enable(_archive, {digest!r})
if sys.argv[1:] == ["--version"]:
    from bondcni._build import BUILD_INFO

    print("bond", BUILD_INFO["version"], "commit", BUILD_INFO["commit"], "built", BUILD_INFO["buildDate"])
    raise SystemExit(0)
from bondcni.__main__ import main

raise SystemExit(main())
"""

# Run by each interpreter: compile the tree's sources into sourceless byte-code under OUT.
COMPILE_SCRIPT = """\
import os, py_compile, sys
src, out = sys.argv[1], sys.argv[2]
for rel in sys.stdin.read().split():
    py_compile.compile(os.path.join(src, rel), cfile=os.path.join(out, rel + "c"), dfile=rel, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
"""


class BuildError(Exception):
    pass


def _git(*args: str) -> Optional[str]:
    try:
        out = subprocess.run(["git", "-C", REPO_DIR, *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def source_identity() -> Tuple[str, int]:
    """The commit (with -dirty when plugin/ has changes) and SOURCE_DATE_EPOCH (default: the commit time).

    BONDCNI_COMMIT and SOURCE_DATE_EPOCH override them (an image build has no .git)."""
    commit = os.environ.get("BONDCNI_COMMIT") or _git("rev-parse", "HEAD") or "unknown"
    dirty = _git("status", "--porcelain", "--", "plugin")
    if "BONDCNI_COMMIT" not in os.environ and commit != "unknown" and dirty:
        commit += "-dirty"
    epoch = os.environ.get("SOURCE_DATE_EPOCH") or _git("log", "-1", "--format=%ct") or ""
    if not epoch.isdigit():
        raise BuildError("no commit time: set SOURCE_DATE_EPOCH (seconds) outside a git checkout")
    return commit, max(int(epoch), 315532800)  # zip times start in 1980


def third_party_imports(package_dir: str) -> Dict[str, str]:
    """Top-level modules the package imports that are neither stdlib nor its own: {module: first importer}."""
    found: Dict[str, str] = {}
    for path in sorted(glob.glob(os.path.join(package_dir, "*.py"))):
        if os.path.basename(path) in EXCLUDED:
            continue
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for top in (n.split(".")[0] for n in names):
                if top not in sys.stdlib_module_names and top not in ("__future__", "bondcni"):
                    found.setdefault(top, os.path.basename(path))
    return found


def _package_files(src: str, arc_prefix: str) -> Dict[str, str]:
    """{archive name: source path} of a package's .py files, sorted walk, tests and caches left out."""
    files: Dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        rel = os.path.relpath(dirpath, src)
        for name in sorted(filenames):
            if name.endswith(".py") and not (rel == "." and name in EXCLUDED and arc_prefix == "bondcni"):
                files[os.path.normpath(os.path.join(arc_prefix, rel, name))] = os.path.join(dirpath, name)
    return files


def _bundled_package(module: str) -> Tuple[Dict[str, str], Dict[str, str], str]:
    """A third-party package's sources, its distribution's licence files ({archive name: path}), its name."""
    import importlib.metadata
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(f"bondcni imports {module}, which is not an installed package here")
    sources = _package_files(list(spec.submodule_search_locations)[0], module)
    dists = importlib.metadata.packages_distributions().get(module, [])
    licences: Dict[str, str] = {}
    label = module
    for dist_name in dists[:1]:
        dist = importlib.metadata.distribution(dist_name)
        label = f"{dist.metadata['Name']}-{dist.version}"
        for f in dist.files or []:
            base = os.path.basename(str(f)).upper()
            if base.startswith(("LICENSE", "LICENCE", "COPYING", "NOTICE")):
                licences[f"licenses/{label}/{os.path.basename(str(f))}"] = str(f.locate())
    if not licences:
        raise BuildError(f"no licence file found for the bundled package {module} ({label})")
    return sources, licences, label


def find_interpreters(requested: Sequence[str]) -> Dict[Tuple[int, int], Tuple[str, str]]:
    """{(3, minor): (path, full version)}: the --python ones, else the one running this and the first
    python3.N found per other minor (PATH, /usr/bin, /usr/local/bin, pyenv and uv installs)."""
    candidates = list(requested)
    if not requested:
        candidates.append(sys.executable)
        home = os.path.expanduser("~")
        pyenv = os.environ.get("PYENV_ROOT", os.path.join(home, ".pyenv"))
        for minor in range(OLDEST_MINOR, NEWEST_MINOR + 1):
            exe = f"python3.{minor}"
            candidates += [shutil.which(exe) or "", f"/usr/bin/{exe}", f"/usr/local/bin/{exe}"]
            candidates += sorted(glob.glob(os.path.join(pyenv, "versions", f"3.{minor}.*", "bin", exe)))
            uv_dir = os.path.join(home, ".local/share/uv/python", f"cpython-3.{minor}.*")
            candidates += sorted(glob.glob(os.path.join(uv_dir, "bin", exe)))
    found: Dict[Tuple[int, int], Tuple[str, str]] = {}
    probe = "import sys; print('%d %d %d' % sys.version_info[:3], sys.implementation.name)"
    for path in candidates:
        if not path or not os.access(path, os.X_OK):
            continue
        try:
            out = subprocess.run([path, "-IS", "-c", probe], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        fields = out.stdout.split()
        if out.returncode != 0 or len(fields) != 4 or fields[3] != "cpython":
            if requested:
                raise BuildError(f"--python {path} is not a working CPython: {out.stderr.strip()}")
            continue
        major, minor, micro = (int(x) for x in fields[:3])
        if (major, minor) < (3, OLDEST_MINOR):
            if requested:
                raise BuildError(f"--python {path} is {major}.{minor}: the plugin needs >= 3.{OLDEST_MINOR}")
            continue
        found.setdefault((major, minor), (path, f"{major}.{minor}.{micro}"))
    return dict(sorted(found.items()))


def _compile(python: str, src: str, out: str, rels: List[str]) -> None:
    # A fixed hash seed: the order of a frozenset constant in marshalled code follows the string hashes.
    # (-I would ignore PYTHONHASHSEED; a minimal environment and -s -S keep user paths out instead.)
    proc = subprocess.run(
        # no_debug_ranges (3.11+; older minors ignore an -X they do not know): no column table per
        # instruction (py311.pack: 261 -> 242 KiB to read and page in per exec); tracebacks lose their carets.
        [python, "-s", "-S", "-X", "no_debug_ranges", "-c", COMPILE_SCRIPT, src, out],
        input="\n".join(rels),
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONHASHSEED": "0", "LC_ALL": "C.UTF-8"},
    )
    if proc.returncode != 0:
        raise BuildError(f"{python} failed to compile the sources:\n{proc.stderr}")


Pythons = Dict[Tuple[int, int], Tuple[str, str]]


def build_info_module(commit: str, epoch: int, pythons: Pythons, bundled: List[str]) -> str:
    from . import __version__

    info = {
        "version": __version__,
        "commit": commit,
        "buildDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)),
        "pythonBytecode": {"{}.{}".format(*minor): full for minor, (_, full) in pythons.items()},
        "bundled": ["bondcni", *bundled],
    }
    return (
        '"""Written by bondcni.build: what this archive was built from (bond --version)."""\n\n'
        f"BUILD_INFO = {json.dumps(info, indent=4, sort_keys=True)}\n"
    )


def pack(tree: str, rels: Sequence[str]) -> bytes:
    """One minor's byte-code as one entry: a 4-byte little-endian length, the marshalled index
    {module: (is package, offset, size)}, then the modules' code (the .pyc bodies without their 16-byte
    headers) back to back, offsets counted from the end of the index. Marshal format 4: every python3 >= 3.9
    reads it."""
    import marshal

    index, bodies, offset = {}, [], 0
    for rel in sorted(rels):
        if not rel.endswith(".py"):
            continue
        name = rel[: -len(".py")].replace("/", ".")
        package = name.endswith(".__init__")
        if package:
            name = name[: -len(".__init__")]
        with open(os.path.join(tree, rel + "c"), "rb") as fh:
            body = fh.read()[16:]
        index[name] = (package, offset, len(body))
        bodies.append(body)
        offset += len(body)
    head = marshal.dumps(index, 4)
    return len(head).to_bytes(4, "little") + head + b"".join(bodies)


def unpack(data: bytes) -> Dict[str, Tuple[bool, bytes]]:
    """pack()'s inverse, for tests and inspection: {module: (is package, marshalled code)}."""
    import marshal

    start = 4 + int.from_bytes(data[:4], "little")
    index = marshal.loads(data[4:start])
    return {name: (pkg, data[start + off : start + off + size]) for name, (pkg, off, size) in index.items()}


def content_digest(entries: Dict[str, bytes]) -> str:
    """sha256 over the entries' names and contents: names the byte-code cache of this very build."""
    digest = hashlib.sha256()
    for name in sorted(entries):
        digest.update(b"%d:%s:%d:" % (len(name), name.encode(), len(entries[name])) + entries[name])
    return digest.hexdigest()


# The archive starts with one #! line that runs python3 with `-c` glued to its flags: Linux passes everything
# after the interpreter's path as one argument, and python reads `-IScCODE` as -I -S -c CODE, so the line
# itself is the launcher (the archive's path comes next in argv). Not a #!python3 zipapp: python3 starts a
# zipapp through runpy, which imports ~20 modules more (importlib.util, contextlib, collections, functools,
# ...) on every exec. Not a sh script that execs python3 (what this was): one exec of /bin/sh less per call.
# The code only puts the archive first on sys.path and imports the boot module from it.
BOOT_MODULE = "_bond_boot"
LAUNCH_CODE = "import sys;a=sys.argv;z=a.pop(1);a[0]=z;sys.path[:0]=z,;import " + BOOT_MODULE
SHEBANG_MAX = 127  # Linux before 5.1 reads 128 bytes of a #! line (newline included) and cuts the rest


def launcher(interpreter: str) -> bytes:
    """`#!PATH -FLAGScCODE`: the interpreter is an absolute path and at most one group of one-letter flags."""
    words = interpreter.split()
    if not words or not words[0].startswith("/") or len(words) > 2:
        raise BuildError(f"the interpreter {interpreter!r} must be an absolute path and optional flags (-IS)")
    flags = words[1] if len(words) == 2 else "-"
    if not (flags.startswith("-") and (flags == "-" or flags[1:].isalpha()) and "c" not in flags):
        raise BuildError(f"the interpreter's flags {flags!r} must be one group of letters, like -IS")
    line = f"#!{words[0]} {flags}c{LAUNCH_CODE}\n".encode()
    if len(line) > SHEBANG_MAX:
        raise BuildError(f"the #! line is {len(line)} bytes; kernels before 5.1 read {SHEBANG_MAX}")
    return line


def write_archive(output: str, interpreter: str, entries: Dict[str, bytes], epoch: int) -> None:
    """An executable zip whose bytes depend only on its entries, the interpreter line and the epoch."""
    date_time = time.gmtime(epoch)[:6]
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    tmp = output + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(launcher(interpreter))
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, date_time)
                info.create_system = 3  # unix, so that external_attr means a mode
                info.external_attr = 0o100644 << 16
                zf.writestr(info, entries[name])
    os.chmod(tmp, 0o755)
    os.utime(tmp, (epoch, epoch))
    os.replace(tmp, output)


def build(output: str, interpreter: str, pythons_requested: Sequence[str] = ()) -> Dict[str, object]:
    commit, epoch = source_identity()
    pythons = find_interpreters(pythons_requested)
    files = _package_files(PLUGIN_DIR, "bondcni")
    licences = {"LICENSE": os.path.join(REPO_DIR, "LICENSE")}
    bundled = []
    for module, importer in sorted(third_party_imports(PLUGIN_DIR).items()):
        sources, lic, label = _bundled_package(module)
        files.update(sources)
        licences.update(lic)
        bundled.append(label)
        print(f"bundling {label} (imported by bondcni/{importer})", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bond-build-") as tree:
        src = os.path.join(tree, "src")
        for name, path in files.items():
            os.makedirs(os.path.dirname(os.path.join(src, name)), exist_ok=True)
            shutil.copyfile(path, os.path.join(src, name))
        with open(os.path.join(src, "bondcni", "_build.py"), "w", encoding="utf-8") as fh:
            fh.write(build_info_module(commit, epoch, pythons, bundled))
        rels = sorted([*files, "bondcni/_build.py"])
        entries: Dict[str, bytes] = {}
        for rel in rels:
            with open(os.path.join(src, rel), "rb") as fh:
                entries[rel] = fh.read()
        for (major, minor), (python, _) in pythons.items():
            out = os.path.join(tree, f"py{major}{minor}")
            _compile(python, src, out, rels)
            entries[f"py{major}{minor}.pack"] = pack(out, rels)
    for name, path in licences.items():
        if not os.path.exists(path):
            raise BuildError(f"missing licence file {path}")
        with open(path, "rb") as fh:
            entries[name] = fh.read()
    entries[BOOT_MODULE + ".py"] = MAIN_TEMPLATE.format(digest=content_digest(entries)).encode()
    # `python3 bin/bond` (through runpy) starts the same way
    entries["__main__.py"] = f"import {BOOT_MODULE}\n".encode()
    write_archive(output, interpreter, entries, epoch)
    return {"output": output, "commit": commit, "epoch": epoch, "pythons": pythons, "bundled": bundled}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bondcni.build", description=__doc__.split("\n")[0])
    parser.add_argument("--output", default="bin/bond", help="where to write the plugin (default: bin/bond)")
    parser.add_argument(
        "--interpreter", default=DEFAULT_INTERPRETER, help=f"the #! line (default: {DEFAULT_INTERPRETER})"
    )
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="PATH",
        help="an interpreter whose byte-code goes in (repeatable; default: every python3.9+ minor found)",
    )
    opts = parser.parse_args(argv)
    try:
        done = build(opts.output, opts.interpreter, opts.python)
    except BuildError as exc:
        print(f"python -m bondcni.build: error: {exc}", file=sys.stderr)
        return 1
    size = os.path.getsize(opts.output)
    minors = " ".join("{}.{}".format(*m) for m in done["pythons"])
    print(f"wrote {opts.output} ({size // 1024} KiB, commit {done['commit']}, byte-code for python {minors})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
