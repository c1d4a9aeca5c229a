"""`bondlab kernel list`: every kernel `--kernel` can name, what it is, whether it can run here (and why not),
and what the last run on it cost (catalog.recorded_runs), so a user can plan a matrix before starting it."""

from __future__ import annotations

from bondlab.util.tables import table
from bondlab.vm import catalog, kernels
from bondlab.vm.engine import VmError


def _minutes(seconds: float) -> str:
    return f"{int(seconds) // 60}m{int(seconds) % 60:02d}s"


def _here(named: catalog.NamedKernel) -> tuple:
    """(kernel release and config, whether and how it runs here)."""
    try:
        kernel = catalog.guest_kernel(named) if named.engine != "host" else None
    except kernels.KernelError as error:
        return "-", f"no: {error}"
    release = catalog.release_of(kernel) if kernel else ""
    if kernel:
        config = catalog.config_of(kernel)
        if config:
            release += f", {config['hz']} Hz, {config['preempt']}"
    try:
        engine = catalog.engine(named, fetch=False)
    except VmError as error:
        # The first clause says why; the probe's command line would not fit a table.
        return release or "-", "no: " + str(error).split(": ", 1)[-1].split(" (")[0]
    if named.engine == "host":
        return engine.describe(), "yes"
    how = engine.accel_note(kernel) if hasattr(engine, "accel_note") else "user-mode-linux"
    return release, f"yes ({how})"


def _cost(name: str) -> str:
    runs = catalog.recorded_runs().get(name, {})
    parts = [
        f"{verb}: {run['items']} in {_minutes(run['seconds'])}"
        + (f" (boot {run['boot_seconds']:.0f} s)" if run.get("boot_seconds") is not None else "")
        + f" on {run['when']}"
        for verb, run in sorted(runs.items())
    ]
    return "; ".join(parts) or "no run recorded yet"


def render() -> str:
    rows = []
    for named in catalog.KERNELS.values():
        release, here = _here(named)
        rows.append((named.name, named.engine, release, here, _cost(named.name)))
    notes = "\n".join(f"  {n.name}: {n.what}" for n in catalog.KERNELS.values())
    return (
        table(rows, ("KERNEL", "ENGINE", "RELEASE", "CAN RUN HERE", "LAST RUN (bondlab run / conformance)"))
        + "\n\n"
        + notes
        + "\n\nNot cached: `bondlab kernel fetch NAME` (Debian's) or `bondlab kernel build` (the lab's)."
    )
