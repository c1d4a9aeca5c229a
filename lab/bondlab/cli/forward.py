"""The one way a command reaches a kernel that can bond, for every verb and for pytest's kernel tests.

`in_place()` says whether this process already runs on such a kernel (inside the lab VM, or a host whose
kernel can bond). `forward()` runs a job elsewhere: in the persistent lab VM when one is up (its shared
directories were fixed at `vm up`, so a job that needs others boots its own), else in one boot of the chosen
engine. `bondlab_job()` is the job that re-runs this command line's verb there.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

from bondlab import vm


def in_place(engine: Optional[str] = None) -> bool:
    """Whether to run here: in a guest, yes; asked for a guest engine (`--engine uml|qemu`), no, even on a
    host that can bond; else whether this kernel can bond."""
    if os.environ.get("BONDLAB_IN_GUEST"):
        return True
    if engine not in (None, "auto", "host"):
        return False
    from bondlab import capabilities

    return bool(capabilities.probe().native)


def bondlab_job(argv: list, **job) -> vm.Job:
    """`python -m bondlab ARGV...` as a lab VM job (the same interpreter, so the same venv)."""
    return vm.Job(argv=[sys.executable, "-m", "bondlab", *argv], **job)


def forward(job: vm.Job, engine=None, session: Optional[str] = None) -> int:
    """Run `job` in the lab VM `session` if it is up (and the job can run there), else in one boot of
    `engine` (a name, None for auto: the first that can run, or an engine already chosen); its exit code."""
    if isinstance(engine, vm.Engine):
        return engine.run(job)
    if session is not None and engine in (None, "uml") and not job.rw_dirs:
        from bondlab.vm.session import LabVm

        running = LabVm(session)
        if running.is_up():
            return running.exec(job)
    return vm.select(engine).run(job)
