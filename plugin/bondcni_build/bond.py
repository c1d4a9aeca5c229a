"""Build bin/bond: one executable file holding bondcni, run by the node's python3 (>= 3.9).

    python -m bondcni_build.bond [--output bin/bond] [--interpreter "/usr/bin/python3 -IS"]
                                 [--python PATH ...]

Reproducible: two builds of one commit are byte-identical. Zip entries are sorted, their times are
SOURCE_DATE_EPOCH (default: the commit's time), their permissions fixed (0644), the zip is stored
(uncompressed), and the byte-code carries no timestamps.

No recompilation on exec: the file holds the byte-code of every python3 minor found on the build machine
(see --python), and its boot serves the running minor's (the layout: archive.py). The sources are in the
file's zip for a minor without byte-code (compiled once into a byte-code cache, _bytecode_cache.py).

Contents (sources.py): bondcni, any third-party package bondcni imports (found by reading its imports; none
once the plugin talks rtnetlink itself) with its licence files, LICENSE, and bondcni/_build.py naming the
commit, build date and byte-code minors (`bond --version` prints it).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

from . import archive, sources

DEFAULT_INTERPRETER = "/usr/bin/python3 -IS"  # what the lab runs: no site, no user paths, no pyenv shim
OLDEST_MINOR, NEWEST_MINOR = 9, 14
BOOT_FILE = "__boot__.py"  # archive.BOOT_SOURCE, compiled with the modules by each minor (not in the zip)

# Run by each interpreter: compile the tree's sources into marshalled code objects under OUT. `from __future__
# import annotations` is compiled in as its flag, not as an import: the same code without loading __future__
# on every exec (the sources keep it: they run on 3.9, where `int | None` cannot be evaluated).
COMPILE_SCRIPT = """\
import ast, marshal, os, sys
import __future__
src, out = sys.argv[1], sys.argv[2]
for rel in sys.stdin.read().split():
    with open(os.path.join(src, rel), "rb") as fh:
        tree = ast.parse(fh.read(), rel)
    body = [n for n in tree.body if not (isinstance(n, ast.ImportFrom) and n.module == "__future__"
                                          and [a.name for a in n.names] == ["annotations"])]
    flags = __future__.annotations.compiler_flag if len(body) < len(tree.body) else 0
    tree.body = body
    code = compile(tree, rel, "exec", flags=flags, dont_inherit=True)
    os.makedirs(os.path.dirname(os.path.join(out, rel)), exist_ok=True)
    with open(os.path.join(out, rel + "c"), "wb") as fh:
        fh.write(marshal.dumps(code))
"""


def find_interpreters(requested: Sequence[str]) -> sources.Pythons:
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
    found: sources.Pythons = {}
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
                raise sources.BuildError(f"--python {path} is not a working CPython: {out.stderr.strip()}")
            continue
        major, minor, micro = (int(x) for x in fields[:3])
        if (major, minor) < (3, OLDEST_MINOR):
            if requested:
                raise sources.BuildError(
                    f"--python {path} is {major}.{minor}: the plugin needs >= 3.{OLDEST_MINOR}"
                )
            continue
        found.setdefault((major, minor), (path, f"{major}.{minor}.{micro}"))
    return dict(sorted(found.items()))


def _compile(python: str, src: str, out: str, rels: List[str]) -> None:
    # A fixed hash seed: the order of a frozenset constant in marshalled code follows the string hashes.
    # (-I would ignore PYTHONHASHSEED; a minimal environment and -s -S keep user paths out instead.)
    proc = subprocess.run(
        # no_debug_ranges (3.11+; older minors ignore an -X they do not know): no column table per
        # instruction (3.11's byte-code: 261 -> 242 KiB); tracebacks lose their carets.
        [python, "-s", "-S", "-X", "no_debug_ranges", "-c", COMPILE_SCRIPT, src, out],
        input="\n".join(rels),
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONHASHSEED": "0", "LC_ALL": "C.UTF-8"},
    )
    if proc.returncode != 0:
        raise sources.BuildError(f"{python} failed to compile the sources:\n{proc.stderr}")


def compiled_modules(tree: str, rels: Sequence[str]) -> Dict[str, Tuple[bool, bytes]]:
    """{module: (is package, marshalled code)} of what COMPILE_SCRIPT wrote under tree."""
    modules = {}
    for rel in rels:
        if not rel.endswith(".py"):
            continue
        name = rel[: -len(".py")].replace("/", ".")
        package = name.endswith(".__init__")
        with open(os.path.join(tree, rel + "c"), "rb") as fh:
            modules[name[: -len(".__init__")] if package else name] = (package, fh.read())
    return modules


def content_digest(entries: Dict[str, bytes], packs: Dict[str, Tuple[bytes, bytes]]) -> str:
    """sha256 over the entries (names, contents) and the byte-code: names this build's byte-code cache."""
    digest = hashlib.sha256()
    for name, data in sorted({**entries, **{f"py{t}": b"".join(p) for t, p in packs.items()}}.items()):
        digest.update(b"%d:%s:%d:" % (len(name), name.encode(), len(data)) + data)
    return digest.hexdigest()


def build(output: str, interpreter: str, pythons_requested: Sequence[str] = ()) -> Dict[str, object]:
    commit, epoch = sources.source_identity()
    pythons = find_interpreters(pythons_requested)
    files = sources.package_files(sources.PLUGIN_DIR, "bondcni")
    licences = {"LICENSE": os.path.join(sources.REPO_DIR, "LICENSE")}
    bundled = []
    for module, importer in sorted(sources.third_party_imports(sources.PLUGIN_DIR).items()):
        package, lic, label = sources.bundled_package(module)
        files.update(package)
        licences.update(lic)
        bundled.append(label)
        print(f"bundling {label} (imported by bondcni/{importer})", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bond-build-") as tree:
        src = os.path.join(tree, "src")
        sources.write_tree(src, files, sources.build_info_module(commit, epoch, pythons, bundled))
        rels = sorted([*files, "bondcni/_build.py"])
        entries: Dict[str, bytes] = {}
        for rel in rels:
            with open(os.path.join(src, rel), "rb") as fh:
                entries[rel] = fh.read()
        with open(os.path.join(src, BOOT_FILE), "w", encoding="utf-8") as fh:
            fh.write(archive.BOOT_SOURCE)
        packs, boots = {}, {}
        for (major, minor), (python, _) in pythons.items():
            out = os.path.join(tree, f"py{major}{minor}")
            _compile(python, src, out, [*rels, BOOT_FILE])
            packs[f"{major}{minor}"] = archive.pack(compiled_modules(out, rels))
            with open(os.path.join(out, BOOT_FILE + "c"), "rb") as fh:
                boots[f"{major}{minor}"] = fh.read()
    for name, path in licences.items():
        if not os.path.exists(path):
            raise sources.BuildError(f"missing licence file {path}")
        with open(path, "rb") as fh:
            entries[name] = fh.read()
    archive.write(output, interpreter, content_digest(entries, packs), boots, packs, entries, epoch)
    return {"output": output, "commit": commit, "epoch": epoch, "pythons": pythons, "bundled": bundled}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bondcni_build.bond", description=__doc__.split("\n")[0])
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
    except (sources.BuildError, archive.LayoutError) as exc:
        print(f"python -m bondcni_build.bond: error: {exc}", file=sys.stderr)
        return 1
    size = os.path.getsize(opts.output)
    minors = " ".join("{}.{}".format(*m) for m in done["pythons"])
    print(f"wrote {opts.output} ({size // 1024} KiB, commit {done['commit']}, byte-code for python {minors})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
