"""The traffic package stands below run/: it imports model, world and util, never run, report, pytest or
cli (run imports it); and the probe helper, a process of its own started under the probes, imports the
standard library and the plugin's rtnetlink decoder only (no scapy, pyroute2 or YAML on the hot path)."""

from __future__ import annotations

import ast
import subprocess
import sys

from bondlab.util.paths import REPO

TRAFFIC = REPO / "lab" / "bondlab" / "traffic"
BELOW = ("bondlab.traffic", "bondlab.model", "bondlab.world", "bondlab.util")


def lab_imports(path) -> list:
    """Every bondlab module a file imports, at its top or inside a function."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out += [f"{node.module}.{alias.name}" for alias in node.names]
    return [name for name in out if name.startswith("bondlab.")]


def test_the_traffic_package_imports_nothing_above_it():
    upward = {
        f"{path.name}: {name}"
        for path in sorted(TRAFFIC.glob("*.py"))
        for name in lab_imports(path)
        if not name.startswith(BELOW)
    }
    assert not upward


def test_the_probe_helper_process_loads_the_standard_library_and_its_own_modules_only():
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, bondlab.traffic.helper; print(' '.join(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    ours = {name for name in loaded if name.startswith(("bondlab", "bondcni"))}
    assert ours == {
        "bondcni",
        "bondcni.rtnl",
        "bondlab",
        "bondlab.traffic",
        "bondlab.traffic.helper",
        "bondlab.traffic.linkevents",
        "bondlab.traffic.pcapng",
        "bondlab.traffic.wire",
    }
    assert not [name for name in loaded if name.split(".")[0] in ("scapy", "pyroute2", "yaml", "jsonschema")]
