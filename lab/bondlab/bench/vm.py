"""`bondlab bench vm`: what the lab VM costs - boot, a trivial command, Python start, import pyroute2.

Figures, not asserts: each line prints p50/p95/max over repeated runs, per engine available here.
"""

from __future__ import annotations

import io
import os
import sys
import time

from bondlab import capabilities
from bondlab.util import stats
from bondlab.vm import Job
from bondlab.vm.host import HostEngine
from bondlab.vm.session import LabVm
from bondlab.vm.uml import UmlEngine

PYTHON = sys.executable
PROBES = {
    "trivial command (true)": ["true"],
    "bare python (-c pass)": [PYTHON, "-c", "pass"],
    "python -c 'import pyroute2'": [PYTHON, "-c", "import pyroute2"],
}


def _time(run, argv: list, repeat: int) -> list:
    samples = []
    for _ in range(repeat):
        sink = io.StringIO()
        started = time.monotonic()
        code = run(Job(argv=argv, out=sink))
        samples.append(time.monotonic() - started)
        if code != 0:
            raise RuntimeError(f"{argv} exited {code}: {sink.getvalue()[-500:]}")
    return samples


def _line(label: str, samples: list) -> None:
    print(f"  {label:<42} {stats.summary(samples)}", flush=True)


def bench_vm(repeat: int = 10) -> int:
    print(f"host kernel {os.uname().release}; python {sys.version.split()[0]}; {repeat} runs each\n")
    host = HostEngine()
    native = capabilities.probe().native
    print(f"engine host ({'can run the lab' if native else 'cannot bond: figures are a baseline only'})")
    for label, argv in PROBES.items():
        _line(
            label,
            _time(lambda job: _run_plain(job), argv, repeat) if not native else _time(host.run, argv, repeat),
        )

    uml = UmlEngine()
    verdict = uml.available()
    if not verdict:
        print(f"\nengine uml: not available ({verdict.reason})")
        return 0
    print(f"\nengine uml: {uml.describe()}, mem {os.environ.get('BONDLAB_VM_MEM', '2G')}")
    boots, whole = [], []
    for _ in range(repeat):
        started = time.monotonic()
        uml.run(Job(argv=["true"], out=io.StringIO()))
        whole.append(time.monotonic() - started)
        boots.append(uml.last_boot_seconds)
    _line("one-shot: exec to job start (boot)", boots)
    _line("one-shot: whole run of `true`", whole)
    session = LabVm(f"bench{os.getpid()}")
    started = time.monotonic()
    session.up()
    try:
        _line("vm up: exec to agent ready", [time.monotonic() - started])
        for label, argv in PROBES.items():
            _line("vm exec: " + label, _time(session.exec, argv, repeat))
    finally:
        session.down()
    return 0


def _run_plain(job: Job) -> int:
    import subprocess

    return subprocess.run(list(job.argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
