"""Build bin/bond-standalone/: the plugin with its own Python, for nodes without python3.

    python -m bondcni_build.standalone [--output bin/bond-standalone] [--tool nuitka|pyinstaller]

bin/bond-standalone/bond is the executable; the folder beside it holds the interpreter, the byte-code
and the libraries (a one-folder bundle: a one-file one unpacks itself into /tmp on every exec). It needs
the node's glibc (as new as the build machine's) and nothing else; LICENSES/ holds the licences of what
is inside (this project, CPython, the tool's bootloader or runtime, bundled packages).

Nuitka is the default: measured in the lab VM (benchmarks/README.md, 30 interleaved runs) its bundle starts
faster than PyInstaller's, p50 VERSION 338 against 511 ms, ADD 477 against 658, DEL 462 against 641 (about
400 fewer page faults per exec: the stdlib it uses is compiled into the executable, no byte-code archive).
It builds in 1.5-2.5 minutes here (PyInstaller: 13 s) and needs a C compiler and patchelf. Its bundle finds
itself by /proc/self/exe, so it needs /proc (every node has it); it aborted in the chroot test's minimal root
when LANG was set, which PyInstaller's did not (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from typing import Dict, List, Optional

from bondcni.skel import COMMANDS

from . import archive, sources

ENTRY = "import sys\n\n" + archive.BOOT_MAIN  # bin/bond's own start: --version, then the commands
# Not needed by the plugin; left out so that the bundle stays small and starts fast.
EXCLUDES = (
    "tkinter",
    "pydoc",
    "doctest",
    "lib2to3",
    "sqlite3",
    "test",
    "setuptools",
    "pip",
    "readline",
)


def _system_library_notices(dist: str) -> Dict[str, str]:
    """The Debian copyright file of each shared library copied from the system (libffi, zlib, ...)."""
    found = {}
    for lib in sorted(glob.glob(os.path.join(dist, "**", "lib*.so*"), recursive=True)):
        name = os.path.basename(lib)
        if name.startswith("libpython"):
            continue  # CPython's own licence
        for system in sorted(
            glob.glob(f"/usr/lib/*-linux-gnu/{name}") + glob.glob(f"/lib/*-linux-gnu/{name}")
        ):
            owner = subprocess.run(["dpkg", "-S", system], capture_output=True, text=True).stdout
            package = owner.split(":")[0] if owner else ""
            if package and os.path.isfile(f"/usr/share/doc/{package}/copyright"):
                found[f"{package}-copyright"] = f"/usr/share/doc/{package}/copyright"
                break
        else:
            raise sources.BuildError(f"no licence notice found for the bundled library {name}")
    return found


def _licences(tool: str, bundled: List[str], dist: str) -> Dict[str, str]:
    """{name under LICENSES/: file}: this project, CPython, the tool, the bundled packages."""
    import importlib.metadata

    stdlib = sysconfig.get_paths()["stdlib"]
    found = {
        "bond-cni-lab-LICENSE": os.path.join(sources.REPO_DIR, "LICENSE"),
        f"CPython-{sys.version.split()[0]}-LICENSE.txt": os.path.join(stdlib, "LICENSE.txt"),
    }
    for dist_name in (tool, *(b.rsplit("-", 1)[0] for b in bundled)):
        package = importlib.metadata.distribution(dist_name)
        for f in package.files or []:
            base = os.path.basename(str(f))
            if base.upper().startswith(("LICENSE", "LICENCE", "COPYING", "NOTICE")) and "dist-info" in str(f):
                found[f"{package.metadata['Name']}-{package.version}-{base}"] = str(f.locate())
    found.update(_system_library_notices(dist))
    missing = [path for path in found.values() if not os.path.isfile(path)]
    if missing:
        raise sources.BuildError(f"licence files not found: {', '.join(missing)}")
    return found


def _command_modules() -> List[str]:
    """The command modules, which the plugin imports by name when a command runs (no tool can see them)."""
    return [f"bondcni.{module}" for module in sorted({where[0] for where in COMMANDS.values() if where})]


def _strip(dist: str) -> None:
    """Drop the symbols of every ELF file in the bundle (as PyInstaller's --strip does)."""
    for path in sorted(glob.glob(os.path.join(dist, "**", "*"), recursive=True)):
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, "rb") as fh:
                elf = fh.read(4) == b"\x7fELF"
            if elf:
                subprocess.run(["strip", "--strip-unneeded", path], check=True)


def _pyinstaller(src: str, entry: str, work: str, bundled_modules: List[str]) -> str:
    argv = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--clean",
        "--onedir",
        "--name",
        "bond",
    ]
    argv += ["--strip"] if shutil.which("strip") else []
    argv += ["--distpath", os.path.join(work, "dist"), "--workpath", os.path.join(work, "build")]
    argv += ["--specpath", work, "--paths", src, "--log-level", "WARN"]
    for module in _command_modules():
        argv += ["--hidden-import", module]
    for module in bundled_modules:
        argv += ["--collect-submodules", module]
    for module in EXCLUDES:
        argv += ["--exclude-module", module]
    subprocess.run([*argv, entry], check=True)
    return os.path.join(work, "dist", "bond")


def _nuitka(src: str, entry: str, work: str, bundled_modules: List[str]) -> str:
    argv = [sys.executable, "-m", "nuitka", "--standalone", "--assume-yes-for-downloads", "--quiet"]
    argv += [f"--output-dir={work}", "--output-filename=bond", "--python-flag=no_site"]
    # What the entry imports is followed; not the whole package (build and standalone import half the stdlib).
    argv += [f"--include-module={module}" for module in _command_modules()]
    argv += [f"--jobs={os.environ.get('BONDCNI_BUILD_JOBS', os.cpu_count() or 1)}"]
    # Bundled packages are followed from the plugin's imports, not compiled whole (pyroute2: 700 modules).
    argv += [f"--follow-import-to={m}" for m in bundled_modules]
    argv += [f"--nofollow-import-to={m}" for m in EXCLUDES]
    subprocess.run([*argv, entry], check=True, env=dict(os.environ, PYTHONPATH=src))
    dist = glob.glob(os.path.join(work, "*.dist"))[0]
    if shutil.which("strip"):
        _strip(dist)
    return dist


TOOLS = {"pyinstaller": _pyinstaller, "nuitka": _nuitka}


def build_standalone(output: str, tool: str) -> Dict[str, object]:
    commit, epoch = sources.source_identity()
    imported = sources.third_party_imports(sources.PLUGIN_DIR)
    files = sources.package_files(sources.PLUGIN_DIR, "bondcni")
    bundled = [sources.bundled_package(m)[2] for m in sorted(imported)]
    frozen = {sys.version_info[:2]: (sys.executable, "{}.{}.{}".format(*sys.version_info[:3]))}
    with tempfile.TemporaryDirectory(prefix="bond-standalone-") as work:
        src = os.path.join(work, "src")
        info = sources.build_info_module(commit, epoch, frozen, [*bundled, f"standalone:{tool}"])
        sources.write_tree(src, files, info)
        entry = os.path.join(work, "bond_main.py")
        with open(entry, "w", encoding="utf-8") as fh:
            fh.write(ENTRY)
        os.environ.setdefault("SOURCE_DATE_EPOCH", str(epoch))
        dist = TOOLS[tool](src, entry, work, sorted(imported))
        lic_dir = os.path.join(dist, "LICENSES")
        os.makedirs(lic_dir, exist_ok=True)
        for name, path in _licences(tool, bundled, dist).items():
            shutil.copyfile(path, os.path.join(lic_dir, name))
        tmp = output.rstrip("/") + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(dist, tmp, symlinks=True)
    shutil.rmtree(output, ignore_errors=True)
    os.replace(tmp, output)
    return {"commit": commit, "bundled": bundled}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bondcni_build.standalone", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--output", default="bin/bond-standalone", help="the bundle's folder")
    parser.add_argument("--tool", choices=sorted(TOOLS), default="nuitka")
    opts = parser.parse_args(argv)
    try:
        done = build_standalone(opts.output, opts.tool)
    except (sources.BuildError, subprocess.CalledProcessError) as exc:
        print(f"python -m bondcni_build.standalone: error: {exc}", file=sys.stderr)
        return 1
    size = sum(
        os.path.getsize(p)
        for p in glob.glob(os.path.join(opts.output, "**"), recursive=True)
        if os.path.isfile(p)
    )
    print(f"wrote {opts.output}/bond ({opts.tool}, {size // 1024} KiB in all, commit {done['commit']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
