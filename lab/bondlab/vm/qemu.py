"""The `qemu` engine: a full virtual machine, near native speed where KVM really works.

The guest boots a distribution kernel (the host's own /boot/vmlinuz-$(uname -r) with its modules,
as virtme-ng does, or BONDLAB_QEMU_KERNEL + BONDLAB_QEMU_MODULES) with a tiny initramfs that mounts
the host root read-only over virtio-9p and starts the same guest-init.sh as the UML engine. Shared
writable directories are 9p mounts of their own; the console is the serial port on a pipe.

KVM is used only after a guest has really booted with it here (cached per kernel and host
kernel): a /dev/kvm that exists is not enough (this project's CI machines have a PVM /dev/kvm on
which stock kernels do not boot). Otherwise TCG, with a warning: it is slow.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import sys
from pathlib import Path

from bondlab.capabilities import Verdict
from bondlab.util.paths import cache_dir
from bondlab.vm import initramfs, kernels
from bondlab.vm.engine import GuestKernel, Job
from bondlab.vm.guest import GuestEngine, guest_mem

QEMU = "qemu-system-x86_64"
# A KVM guest boots in a few seconds; one that has not started its job by then never will.
KVM_TRIAL_SECONDS = 20.0


def _version_of(image: Path) -> str:
    return image.name.split("vmlinuz-", 1)[-1]


class QemuEngine(GuestEngine):
    name = "qemu"
    product = "qemu"
    shared_fs = "9p"

    def default_kernel(self) -> GuestKernel:
        override = os.environ.get("BONDLAB_QEMU_KERNEL")
        if override:
            image = Path(override)
            modules = os.environ.get("BONDLAB_QEMU_MODULES")
            if not image.is_file():
                raise kernels.KernelError(f"BONDLAB_QEMU_KERNEL={override} is not a kernel image")
            if not modules or not Path(modules, "modules.dep").is_file():
                raise kernels.KernelError(
                    "BONDLAB_QEMU_MODULES must name the kernel's module tree (a lib/modules/<version> "
                    "directory with modules.dep; run depmod on it)"
                )
            return GuestKernel(image, "BONDLAB_QEMU_KERNEL", Path(modules), False)
        # The host's own kernel first (a developer laptop), then any installed one, then one that
        # `bondlab kernel fetch` unpacked into the cache.
        own = Path(f"/boot/vmlinuz-{os.uname().release}")
        roots = [Path("/")] + sorted(kernels.distribution_kernels_dir().glob("*"))
        for root in roots:
            images = sorted(Path(p) for p in glob.glob(str(root / "boot" / "vmlinuz-*")))
            if root == Path("/") and own.exists():
                images = [own]
            for image in reversed(images):
                modules = root / "lib" / "modules" / _version_of(image)
                if (modules / "modules.dep").exists():
                    return GuestKernel(image, f"distribution kernel {_version_of(image)}", modules, False)
        raise kernels.KernelError(
            "no guest kernel with modules: `bondlab kernel fetch` unpacks Debian's into the cache, "
            "or set BONDLAB_QEMU_KERNEL and BONDLAB_QEMU_MODULES"
        )

    def available(self) -> Verdict:
        if shutil.which(QEMU) is None:
            return Verdict(False, f"{QEMU} is not installed (apt-get install -y qemu-system-x86)")
        if not os.path.exists("/bin/busybox"):
            return Verdict(False, "busybox is needed for the initramfs (apt-get install -y busybox-static)")
        try:
            kernel = self.kernel()
        except kernels.KernelError as error:
            return Verdict(False, str(error))
        return Verdict(True, f"{kernel.describe()}, {self.accel_note(kernel)}")

    # -- acceleration ------------------------------------------------------------------------------
    def _kvm_verdict_file(self, kernel: GuestKernel) -> Path:
        key = f"{os.uname().release}-{_version_of(kernel.path)}".replace("/", "_")
        return cache_dir() / "qemu" / f"kvm-{key}.json"

    def kvm_works(self, kernel: GuestKernel) -> bool:
        forced = os.environ.get("BONDLAB_QEMU_ACCEL")
        if forced:
            return forced == "kvm"
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            return False
        verdict_file = self._kvm_verdict_file(kernel)
        if verdict_file.exists():
            return json.loads(verdict_file.read_text())["kvm"]
        # Try for real: boot a trivial job with KVM under a short limit.
        self._accel, self.boot_timeout = "kvm", KVM_TRIAL_SECONDS
        try:
            with open(os.devnull, "w") as sink:
                works = self.run(Job(argv=["true"], timeout=KVM_TRIAL_SECONDS, out=sink)) == 0
        except Exception:
            works = False
        finally:
            del self._accel, self.boot_timeout
        verdict_file.parent.mkdir(parents=True, exist_ok=True)
        verdict_file.write_text(json.dumps({"kvm": works}) + "\n")
        return works

    def accel(self, kernel: GuestKernel) -> str:
        chosen = getattr(self, "_accel", None)
        if chosen is None:
            chosen = "kvm" if self.kvm_works(kernel) else "tcg"
            if chosen == "tcg" and not getattr(self, "_warned", False):
                print(
                    "bondlab: qemu runs under TCG (no working KVM here): expect it to be slow",
                    file=sys.stderr,
                )
                self._warned = True
        return chosen

    def accel_note(self, kernel: GuestKernel) -> str:
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            return "TCG only (no /dev/kvm): slow"
        verdict_file = self._kvm_verdict_file(kernel)
        if verdict_file.exists():
            return (
                "KVM"
                if json.loads(verdict_file.read_text())["kvm"]
                else "TCG (KVM failed to boot a guest here): slow"
            )
        return "KVM to be tried on first use"

    # -- boot --------------------------------------------------------------------------------------
    def initramfs(self, kernel: GuestKernel) -> Path:
        version = kernel.modules_dir.name
        target = cache_dir() / "qemu" / f"initramfs-{version}.cpio"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            initramfs.build(target, kernel.modules_dir, version)
        return target

    def boot_argv(self, kernel: GuestKernel, ctl: Path, shares: list) -> list:
        accel = self.accel(kernel)
        argv = [
            QEMU,
            "-machine", f"q35,accel={accel}",
            "-cpu", "host" if accel == "kvm" else "max",
            "-smp", str(min(4, os.cpu_count() or 1)),
            "-m", guest_mem(),
            "-kernel", str(kernel.path),
            "-initrd", str(self.initramfs(kernel)),
            "-append", " ".join([
                "console=ttyS0", "quiet", "loglevel=1", "panic=-1", f"BONDLAB_CTL={ctl}",
                "bonding.max_bonds=0", "dummy.numdummies=0", "ifb.numifbs=0",
            ]),
            "-nographic", "-no-reboot", "-nodefaults",
            "-serial", "stdio",
            "-device", "virtio-rng-pci",
            "-fsdev", "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
            "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
        ]  # fmt: skip
        for tag, path in shares:
            argv += [
                "-fsdev", f"local,id={tag},path={path},security_model=none,multidevs=remap",
                "-device", f"virtio-9p-pci,fsdev={tag},mount_tag={tag}",
            ]  # fmt: skip
        return argv
