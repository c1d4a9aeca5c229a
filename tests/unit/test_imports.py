"""The plugin's import graph: stdlib only, no pyroute2 at all, no lab code; netlink.py's import budget."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "plugin" / "bondcni"


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_importing_every_module_loads_no_pyroute2_and_no_lab():
    mods = [p.stem for p in PKG.glob("*.py") if p.stem != "__main__"]
    out = _run(
        "import sys\n"
        + "".join(f"import bondcni.{m}\n" for m in mods if m != "__init__")
        + "bad = ('pyroute2', 'bondlab', 'scapy')\n"
        + "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(bad)}))"
    )
    assert out.strip() == "[]"


def test_version_path_stays_small():
    out = _run(
        "import io, sys\n"
        "from bondcni.__main__ import _handlers\n"
        "from bondcni.skel import dispatch\n"
        "dispatch(_handlers, {'CNI_COMMAND': 'VERSION'}, io.BytesIO(b''), io.StringIO(), io.StringIO())\n"
        "heavy = ('dataclasses', 'subprocess', 'ctypes', 'bondcni.config')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    assert out.strip() == "[]"


@pytest.mark.parametrize("path", sorted(PKG.glob("*.py")), ids=lambda p: p.name)
def test_module_level_imports_are_stdlib_or_own(path):
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top == "__future__" or top in sys.stdlib_module_names, f"{path.name}: imports {name}"


def test_no_plugin_module_imports_pyroute2_or_the_build():
    """The plugin speaks rtnetlink through its own codec (rtnl.py); pyroute2 is for the lab and the tests.
    bondcni_build builds the plugin and never goes to a node with it."""
    banned = ("pyroute2", "bondcni_build")
    for path in PKG.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith(banned) for a in node.names), path.name
            elif isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith(banned), path.name


# What netlink.py may add to a process that has already imported bondcni.errors (its one plugin dependency):
# the codec and the C modules under it; _ctypes where os.setns is missing (Python < 3.12).  Not `socket`
# (its enum import is ~19 ms in the lab VM), no json/re/dataclasses/typing/contextlib, and not `os` (see
# bondcni/os.py: `python3 -IS` starts without it).
NETLINK_ALLOWED = {
    "bondcni.netlink",
    "bondcni.rtnl",
    "bondcni.os",
    "_stat",
    "_socket",
    "_struct",
    "errno",
}
SETNS_ALLOWED = set() if sys.version_info >= (3, 12) else {"_ctypes"}


def _importtime(code: str) -> list:
    """Module names `python -IS -X importtime` reports for code, in import order (MARK lines kept)."""
    prelude = f"import sys; sys.path.insert(0, {str(PKG.parent)!r})\n"
    argv = [sys.executable, "-IS", "-X", "importtime", "-c", prelude + code]
    proc = subprocess.run(argv, capture_output=True, text=True, check=True)
    names = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":  # the header line
                names.append(name)
        elif line == "MARK":
            names.append("MARK")
    return names


def test_add_path_import_of_netlink_stays_within_its_allow_list():
    names = _importtime(
        "import bondcni.errors\n"
        "print('MARK', file=sys.stderr, flush=True)\n"
        "import bondcni.netlink\n"
        "bondcni.netlink.setns_function()\n"
        "bondcni.netlink.Handle.__init__  # nothing else is imported lazily on the ADD path\n"
    )
    added = set(names[names.index("MARK") + 1 :])
    assert "bondcni.netlink" in added
    assert added <= NETLINK_ALLOWED | SETNS_ALLOWED, sorted(added - NETLINK_ALLOWED - SETNS_ALLOWED)


def test_version_path_imports_no_netlink_and_nothing_third_party():
    names = _importtime(
        "import os\nos.environ['CNI_COMMAND'] = 'VERSION'\nfrom bondcni.__main__ import main\nmain()\n",
    )
    assert "bondcni.netlink" not in names and "bondcni.rtnl" not in names
    third_party = {n.split(".")[0] for n in names} - set(sys.stdlib_module_names) - {"bondcni"}
    assert not third_party


# The whole ADD/DEL path: every module the plugin's exec imports beyond the interpreter's own start-up.  The
# plugin's modules, and C modules or tiny pure ones of the stdlib: no json (re), typing, dataclasses,
# subprocess, ipaddress, signal, contextlib, socket, fnmatch, collections, enum.
PLUGIN_STDLIB = {n for n in NETLINK_ALLOWED if not n.startswith("bondcni.")} | {
    "__future__",  # the sources' only: the build compiles its effect in, not the import (test_build.py)
    "_stat",
    "_json",
    "fcntl",
    "select",
    "time",
}
HEAVY = {
    "os",
    "posixpath",
    "_collections_abc",
    "stat",
    "struct",
    "json",
    "re",
    "typing",
    "dataclasses",
    "subprocess",
    "ipaddress",
    "signal",
    "contextlib",
    "socket",
    "fnmatch",
    "collections",
    "enum",
    "functools",
    "inspect",
    "ctypes",
    "types",
}


def test_add_path_import_budget():
    names = _importtime(
        "print('MARK', file=sys.stderr, flush=True)\n"
        "import bondcni.__main__, bondcni.skel, bondcni.settings, bondcni.add\n"
        "bondcni.netlink.setns_function()\n"
    )
    added = set(names[names.index("MARK") + 1 :])
    own = {n for n in added if n.split(".")[0] == "bondcni"}
    assert {"bondcni.add", "bondcni.config", "bondcni.netlink", "bondcni.state"} <= own
    assert not added & HEAVY, sorted(added & HEAVY)
    assert added - own <= PLUGIN_STDLIB | SETNS_ALLOWED, sorted(added - own - PLUGIN_STDLIB - SETNS_ALLOWED)


def test_del_path_loads_none_of_adds_code():
    names = _importtime(
        "print('MARK', file=sys.stderr, flush=True)\nimport bondcni.__main__, bondcni.skel, bondcni.delete\n"
    )
    added = set(names[names.index("MARK") + 1 :])
    assert "bondcni.delete" in added
    assert not added & {"bondcni.add", "bondcni.host_policy", "bondcni.check"}, sorted(added)


def test_every_command_names_a_function_of_its_module():
    import importlib

    from bondcni.skel import COMMANDS

    assert set(COMMANDS) == {"ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION"}
    assert COMMANDS["VERSION"] is None  # answered by dispatch() itself
    for module, function in filter(None, COMMANDS.values()):
        assert callable(getattr(importlib.import_module(f"bondcni.{module}"), function))


def test_the_command_line_loads_with_the_stdlib_alone():
    """./dev runs `PYTHONPATH=lab:plugin python3 -m bondlab doctor --fix` before any venv exists: building
    bondlab's parser (every verb module) may import the plugin (stdlib only) but no third-party package."""
    repo = PKG.parent.parent
    code = (
        f"import sys; sys.path[:0] = [{str(repo / 'lab')!r}, {str(repo / 'plugin')!r}]\n"
        "from bondlab.cli.main import build_parser\nbuild_parser()\n"
        "import bondlab.doctor\n"
    )
    subprocess.run([sys.executable, "-S", "-c", code], check=True, capture_output=True, text=True)
