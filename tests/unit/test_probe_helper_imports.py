"""The probe helper, a process of its own started under the probes, imports the standard library and the
plugin's rtnetlink decoder only (no scapy, pyroute2 or YAML on the hot path). Where the traffic package sits
among the lab's layers is tests/unit/test_layers.py's."""

from __future__ import annotations

import subprocess
import sys


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
