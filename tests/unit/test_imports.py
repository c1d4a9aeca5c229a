"""The plugin's import graph: stdlib at module level; pyroute2 only in netlink.py, lazily; no lab code."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "plugin" / "bondcni"


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_importing_every_module_loads_no_pyroute2_and_no_lab():
    mods = [p.stem for p in PKG.glob("*.py") if p.stem not in ("__main__", "build")]
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


def test_pyroute2_is_imported_only_by_netlink():
    for path in PKG.glob("*.py"):
        if path.name in ("netlink.py", "build.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("pyroute2") for a in node.names), path.name
            elif isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("pyroute2"), path.name


def test_bond_nla_map_extended_for_attributes_28_and_up():
    """pyroute2 0.9.x stops at IFLA_BOND_TLB_DYNAMIC_LB (27): peer_notif_delay (28) must encode and decode."""
    from bondcni import netlink

    netlink._patch_pyroute2()
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    msg = ifinfmsg()
    msg["attrs"] = [
        ["IFLA_IFNAME", "bond0"],
        [
            "IFLA_LINKINFO",
            {
                "attrs": [
                    ["IFLA_INFO_KIND", "bond"],
                    [
                        "IFLA_INFO_DATA",
                        {"attrs": [["IFLA_BOND_MIIMON", 100], ["IFLA_BOND_PEER_NOTIF_DELAY", 300]]},
                    ],
                ]
            },
        ],
    ]
    msg.encode()
    back = ifinfmsg(msg.data)
    back.decode()
    data = back.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA")
    assert data.get_attr("IFLA_BOND_PEER_NOTIF_DELAY") == 300
    assert data.get_attr("IFLA_BOND_MIIMON") == 100
    assert b"\x1c\x00" in bytes(msg.data)  # attribute type 28 on the wire
