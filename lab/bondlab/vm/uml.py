"""The `uml` engine: a user-mode-linux guest, the way to a bonding kernel on a host that has none.

The kernel is an ordinary host process; the guest's root is the host's file system over hostfs,
and its console is a pipe. Which kernel: see bondlab.kernel (the lab kernel, else Debian's).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from bondlab import kernel as kernels
from bondlab.capabilities import Verdict
from bondlab.vm.guest import GuestEngine, GuestKernel, guest_mem


class UmlEngine(GuestEngine):
    name = "uml"
    product = "user-mode-linux"
    shared_fs = "hostfs"

    def kernel(self) -> GuestKernel:
        return kernels.find_kernel()

    def available(self) -> Verdict:
        try:
            kernel = self.kernel()
        except kernels.KernelError as error:
            return Verdict(False, str(error))
        return Verdict(True, kernel.describe())

    def boot_argv(self, kernel: GuestKernel, ctl: Path, shares: list) -> list:
        return [
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
