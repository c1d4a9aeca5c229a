"""Engines that run a command as root on a kernel that can bond: the host's own, or a lab VM.

Every engine has the same shape (`Engine`), so callers - the CLI, the pytest plugin, the lab's verbs -
never branch on which one they got. `select()` picks one automatically (host if the probe says the
host kernel can run the lab, else user-mode-linux); `--engine`/`BONDLAB_ENGINE` overrides.
"""

from __future__ import annotations

import os
from typing import Optional

from bondlab.vm.engine import Engine, Job, VmError

__all__ = ["Engine", "Job", "VmError", "engines", "select"]


def engines() -> dict:
    from bondlab.vm.host import HostEngine
    from bondlab.vm.qemu import QemuEngine
    from bondlab.vm.uml import UmlEngine

    # In order of preference for `auto`: the host kernel, then UML (fast to boot, no KVM needed),
    # then qemu (a full VM; the better choice where KVM works, chosen explicitly).
    return {"host": HostEngine(), "uml": UmlEngine(), "qemu": QemuEngine()}


def select(name: Optional[str] = None) -> Engine:
    """The engine asked for (flag or BONDLAB_ENGINE), else the first usable one, else a VmError saying why."""
    name = name or os.environ.get("BONDLAB_ENGINE") or "auto"
    known = engines()
    if name != "auto":
        if name not in known:
            raise VmError(f"unknown engine {name!r}; choose one of: auto, {', '.join(known)}")
        engine = known[name]
        verdict = engine.available()
        if not verdict:
            raise VmError(f"engine {name!r} cannot run here: {verdict.reason}")
        return engine
    reasons = []
    for engine in known.values():
        verdict = engine.available()
        if verdict:
            return engine
        reasons.append(f"{engine.name}: {verdict.reason}")
    raise VmError("no engine can run the lab here:\n  " + "\n  ".join(reasons))
