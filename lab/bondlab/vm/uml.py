"""The `uml` engine: a user-mode-linux guest, the way to a bonding kernel on a host that has none.

The kernel is an ordinary host process; the guest's root is the host's file system over hostfs,
and its console is a pipe. Which kernel: see bondlab.vm.kernels (the lab kernel, else Debian's).

The guest runs on ONE host CPU (taskset). UML's kernel runs guest processes under ptrace, so every guest
system call is a hand-off between two host processes; on two CPUs each hand-off is a cross-CPU wake-up
(out of an idle state when the host is quiet). Measured on 2 cores: a lab pod costs 1.1 s pinned against
3.6 s unpinned, and the world builds in 0.7 s against 3.5 s. The CPU: $BONDLAB_VM_CPU (a number, or `any`
for no pinning), else the allowed CPU with the fewest lab VMs already on it, the highest on a tie.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from bondlab.capabilities import Verdict
from bondlab.util import procs
from bondlab.vm import kernels
from bondlab.vm.guest import GuestEngine, GuestKernel, guest_mem


class UmlEngine(GuestEngine):
    name = "uml"
    product = "user-mode-linux"
    shared_fs = "hostfs"

    def default_kernel(self) -> GuestKernel:
        return kernels.find_kernel()

    def available(self) -> Verdict:
        try:
            kernel = self.kernel()
        except kernels.KernelError as error:
            return Verdict(False, str(error))
        return Verdict(True, kernel.describe())

    def boot_argv(self, kernel: GuestKernel, ctl: Path, shares: list) -> list:
        return [
            *pin_to_one_cpu(),
            str(kernel.path),
            f"mem={guest_mem()}",
            "root=/dev/root",
            "rootfstype=hostfs",
            "rootflags=/",
            "ro",
            f"init={ctl / 'init.sh'}",
            f"BONDLAB_CTL={ctl}",
            "con=null",
            "con0=null,fd:1",
            "quiet",
            "loglevel=1",
            # Built-in drivers would otherwise make bond0, dummy0, ifb0/1 in the guest's root netns.
            "bonding.max_bonds=0",
            "dummy.numdummies=0",
            "ifb.numifbs=0",
            f"umid=bondlab-{secrets.token_hex(6)}",
            f"uml_dir={ctl}",
        ]


def lab_vm_cpus() -> dict:
    """umid -> CPU set of every lab VM (a UML kernel started with umid=bondlab-...) running now. A VM is
    several host processes (one per guest process, plus helpers) with one umid."""
    found = {}
    for pid, args in procs.command_lines():
        umid = next((arg for arg in args if arg.startswith("umid=bondlab-")), None)
        if umid and umid not in found:
            try:
                found[umid] = os.sched_getaffinity(pid)
            except OSError:  # gone meanwhile
                continue
    return found


def pin_to_one_cpu() -> list:
    """`taskset -c N` (see the module's docstring), or nothing when there is no choice or no taskset."""
    wanted = os.environ.get("BONDLAB_VM_CPU", "")
    allowed = sorted(os.sched_getaffinity(0))
    if wanted == "any" or len(allowed) < 2 or not shutil.which("taskset"):
        return []
    if wanted:
        return ["taskset", "-c", wanted]
    pinned = [cpus for cpus in lab_vm_cpus().values() if len(cpus) == 1]
    load = {cpu: sum(1 for cpus in pinned if cpu in cpus) for cpu in allowed}
    cpu = min(reversed(allowed), key=lambda c: load[c])
    return ["taskset", "-c", str(cpu)]
