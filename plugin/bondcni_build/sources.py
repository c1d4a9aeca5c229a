"""What both builds put in: bondcni's sources, any third-party package they import (with its licence files),
and bondcni/_build.py naming the commit, build date and byte-code minors (`bond --version`, VERSION's
buildInfo: bondcni/buildinfo.py reads it on the node)."""

from __future__ import annotations

import ast
import glob
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

import bondcni

PLUGIN_DIR = os.path.dirname(os.path.abspath(bondcni.__file__))  # the package that runs on nodes
REPO_DIR = os.path.dirname(os.path.dirname(PLUGIN_DIR))
SKIP_DIRS = {"__pycache__", "tests", "test"}

# {(3, minor): (interpreter path, full version)}: the interpreters whose byte-code a build holds.
Pythons = Dict[Tuple[int, int], Tuple[str, str]]


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


def package_files(src: str, arc_prefix: str) -> Dict[str, str]:
    """{archive name: source path} of a package's .py files, sorted walk, tests and caches left out."""
    files: Dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        rel = os.path.relpath(dirpath, src)
        for name in sorted(filenames):
            if name.endswith(".py"):
                files[os.path.normpath(os.path.join(arc_prefix, rel, name))] = os.path.join(dirpath, name)
    return files


def bundled_package(module: str) -> Tuple[Dict[str, str], Dict[str, str], str]:
    """A third-party package's sources, its distribution's licence files ({archive name: path}), its name."""
    import importlib.metadata
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(f"bondcni imports {module}, which is not an installed package here")
    sources = package_files(list(spec.submodule_search_locations)[0], module)
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


def build_info_module(commit: str, epoch: int, pythons: Pythons, bundled: List[str]) -> str:
    """bondcni/_build.py's source."""
    info = {
        "version": bondcni.__version__,
        "commit": commit,
        "buildDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)),
        "pythonBytecode": {"{}.{}".format(*minor): full for minor, (_, full) in pythons.items()},
        "bundled": ["bondcni", *bundled],
    }
    return (
        '"""Written by bondcni_build: what this archive was built from (bond --version)."""\n\n'
        f"BUILD_INFO = {json.dumps(info, indent=4, sort_keys=True)}\n"
    )


def write_tree(dest: str, files: Dict[str, str], build_info: str) -> None:
    """What a build compiles or freezes: the files ({archive name: source path}) under dest, and
    bondcni/_build.py holding build_info (build_info_module())."""
    for name, path in files.items():
        os.makedirs(os.path.dirname(os.path.join(dest, name)), exist_ok=True)
        shutil.copyfile(path, os.path.join(dest, name))
    with open(os.path.join(dest, "bondcni", "_build.py"), "w", encoding="utf-8") as fh:
        fh.write(build_info)
