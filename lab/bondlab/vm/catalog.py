"""The kernels a run can be asked for by name (`bondlab run --kernel NAME`, `kernel list`), declared once.

Users' nodes and CI machines run stock distribution kernels with bonding as a module, so a verdict on the
lab's own kernel is one column of a matrix, not the answer: `lab` is the UML kernel the lab is built on
(bondlab.vm.kernels); the `debian-*` ones are Debian 12's stock images (from bookworm and bookworm-backports)
booted by the qemu engine, unpacked from their packages into the cache once (nothing is installed on the
host) and found there again by their release; `host` is the running kernel, when it can bond.

What a run on each kernel cost is recorded after every matrix run (`record_run`), so `kernel list` can say
what the next one will cost from a measurement, not a guess.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from bondlab.util.paths import cache_dir
from bondlab.vm import kernels
from bondlab.vm.engine import Engine, GuestKernel, VmError


@dataclass(frozen=True)
class NamedKernel:
    name: str
    engine: str  # uml, qemu or host
    what: str
    package: str = ""  # Debian package[/suite] whose dependency is the image (qemu kernels)
    release: str = ""  # what an unpacked image's directory is called (a regex), to find it in the cache


KERNELS = {
    k.name: k
    for k in (
        NamedKernel(
            "lab",
            "uml",
            "the lab kernel: Debian's linux-source-6.12 built ARCH=um, everything built in, 1000 Hz",
        ),
        NamedKernel(
            "debian-6.1",
            "qemu",
            "Debian 12's stock kernel (bookworm, linux-image-amd64): PREEMPT_DYNAMIC, 250 Hz, modules",
            "linux-image-amd64",
            r"linux-image-6\.1\.\d+-\d+-amd64",
        ),
        NamedKernel(
            "debian-6.12",
            "qemu",
            "Debian 12's 6.12 (bookworm-backports, linux-image-amd64): 250 Hz, modules",
            "linux-image-amd64/bookworm-backports",
            r"linux-image-6\.12\.\d+\+deb12-amd64",
        ),
        NamedKernel(
            "debian-6.12-rt",
            "qemu",
            "Debian 12's 6.12 PREEMPT_RT (bookworm-backports, linux-image-rt-amd64), as on telco nodes",
            "linux-image-rt-amd64/bookworm-backports",
            r"linux-image-6\.12\.\d+\+deb12-rt-amd64",
        ),
        NamedKernel("host", "host", "the kernel this machine runs, when it can bond"),
    )
}


def get(name: str) -> NamedKernel:
    try:
        return KERNELS[name]
    except KeyError:
        raise VmError(f"unknown kernel {name!r}; choose from: {', '.join(KERNELS)}") from None


def _release_of(tree: Path) -> str:
    (release,) = [p.name for p in (tree / "lib" / "modules").iterdir()]
    return release


def _version_key(name: str) -> tuple:
    return tuple(int(n) for n in re.findall(r"\d+", name))


def cached_tree(named: NamedKernel) -> Optional[Path]:
    """The newest unpacked image of a distribution kernel in the cache, if any."""
    pattern = re.compile(named.release + "$")
    trees = [
        p
        for p in kernels.distribution_kernels_dir().glob("linux-image-*")
        if pattern.match(p.name) and (p / "boot").is_dir()
    ]
    return max(trees, key=lambda p: _version_key(p.name), default=None)


def guest_kernel(named: NamedKernel, fetch: bool = False) -> GuestKernel:
    """What the engine boots for `named`; a qemu kernel not in the cache is fetched only if `fetch`."""
    if named.engine == "uml":
        lab = kernels.cached_lab_kernel()
        if lab is None:
            raise kernels.KernelError("the lab kernel is not built: `bondlab kernel build` (about 5 minutes)")
        return lab
    if named.engine != "qemu":
        raise kernels.KernelError(f"{named.name} is not booted as a guest")
    tree = cached_tree(named)
    if tree is None:
        if not fetch:
            raise kernels.KernelError(
                f"{named.name} is not in the cache: `bondlab kernel fetch {named.name}` (a Debian package)"
            )
        tree = kernels.fetch_distribution_kernel(named.package)
    release = _release_of(tree)
    return GuestKernel(
        tree / "boot" / f"vmlinuz-{release}",
        f"{named.name} {release}",
        tree / "lib" / "modules" / release,
        False,
    )


def engine(named: NamedKernel, fetch: bool = True) -> Engine:
    """An engine that boots `named` (fetching a Debian image once), or a VmError saying why it cannot here."""
    from bondlab.vm.host import HostEngine
    from bondlab.vm.qemu import QemuEngine
    from bondlab.vm.uml import UmlEngine

    if named.engine == "host":
        chosen: Engine = HostEngine()
    else:
        try:
            kernel = guest_kernel(named, fetch=fetch)
        except kernels.KernelError as error:
            raise VmError(f"kernel {named.name}: {error}") from None
        chosen = UmlEngine(kernel) if named.engine == "uml" else QemuEngine(kernel)
    verdict = chosen.available()
    if not verdict:
        raise VmError(f"kernel {named.name} cannot run here: {verdict.reason}")
    return chosen


def release_of(kernel: GuestKernel) -> str:
    """A guest kernel's release: its module tree's name (Debian's), else the last word of its origin (the
    lab kernel's "lab kernel 6.12.118-1~deb12u1": the source package's version)."""
    return kernel.modules_dir.name if kernel.modules_dir else kernel.origin.rsplit(" ", 1)[-1]


def config_of(kernel: GuestKernel) -> dict:
    """HZ and preemption model of a kernel, from the config beside it (a Debian image's config-RELEASE, the
    lab kernel's `config`); empty when there is none."""
    name = kernel.path.name
    config = kernel.path.with_name("config-" + name[8:] if name.startswith("vmlinuz-") else "config")
    try:
        text = config.read_text()
    except OSError:
        return {}
    hz = re.search(r"^CONFIG_HZ=(\d+)$", text, re.M)
    preempt = next(
        (
            model
            for option, model in (
                ("CONFIG_PREEMPT_RT", "PREEMPT_RT"),
                ("CONFIG_PREEMPT_DYNAMIC", "PREEMPT_DYNAMIC"),
                ("CONFIG_PREEMPT", "PREEMPT"),
            )
            if re.search(rf"^{option}=y$", text, re.M)
        ),
        "PREEMPT_NONE",
    )
    return {"hz": int(hz.group(1)) if hz else None, "preempt": preempt}


# -- what runs cost ---------------------------------------------------------------------------------


def _costs_file() -> Path:
    return cache_dir() / "kernel-runs.json"


def recorded_runs() -> dict:
    try:
        return json.loads(_costs_file().read_text())
    except (OSError, ValueError):
        return {}


def record_run(name: str, verb: str, items: int, seconds: float, boot_seconds: Optional[float]) -> None:
    """Remember the last `verb` run on kernel `name`: how many scenarios or cases, and how long it took."""
    runs = recorded_runs()
    runs.setdefault(name, {})[verb] = {
        "items": items,
        "seconds": round(seconds, 1),
        "boot_seconds": None if boot_seconds is None else round(boot_seconds, 1),
        "when": time.strftime("%Y-%m-%d %H:%M"),
    }
    path = _costs_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".tmp")
    staged.write_text(json.dumps(runs, indent=1, sort_keys=True) + "\n")
    staged.replace(path)
