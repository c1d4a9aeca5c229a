"""A tiny initramfs for the qemu engine: busybox, the modules that reach the host's files over 9p,
and an /init that mounts the host root read-only and hands over to guest-init.sh.

Written as a newc cpio by hand (the format is a header of hex fields per file), so building it
needs neither cpio nor an initramfs tool; it is cached per kernel version.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# What mounting the host root over virtio-9p needs, in dependency order as modprobe resolves it.
NINEP_MODULES = ("virtio_pci", "9pnet_virtio", "9p")

INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for ko in $(cat /modules.order); do insmod "$ko" 2>/dev/null; done
mkdir -p /newroot
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /newroot; then
    echo "bondlab-initramfs: cannot mount the host root over 9p" >&2
    poweroff -f
fi
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot "$BONDLAB_CTL/init.sh"
"""


def _entry(name: str, mode: int, data: bytes, ino: int) -> bytes:
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
    header = b"070701" + b"".join(b"%08X" % value for value in fields)
    blob = header + name.encode() + b"\0"
    blob += b"\0" * (-len(blob) % 4)
    blob += data + b"\0" * (-len(data) % 4)
    return blob


def _module_paths(modules_dir: Path, version: str) -> list:
    """insmod order for the 9p modules, from modprobe --show-depends against the kernel's module tree."""
    base = modules_dir.parent.parent.parent  # <root>/lib/modules/<version> -> <root>
    paths = []
    for module in NINEP_MODULES:
        proc = subprocess.run(
            ["modprobe", "-d", str(base), "-S", version, "--show-depends", module],
            capture_output=True,
            text=True,
        )
        for line in proc.stdout.splitlines():
            parts = line.split()
            if parts[:1] == ["insmod"] and parts[1] not in paths:
                paths.append(parts[1])
        if not proc.stdout.strip() and "builtin" not in proc.stdout:
            if proc.returncode != 0:
                raise RuntimeError(
                    f"kernel {version} has no module {module} under {modules_dir}: {proc.stderr}"
                )
    return paths


def build(target: Path, modules_dir: Path, version: str, busybox: str = "/bin/busybox") -> Path:
    """Write the initramfs for kernel `version` (modules under `modules_dir`) to `target`."""
    modules = _module_paths(modules_dir, version)
    entries, ino = [], 1
    for directory in ("bin", "dev", "proc", "sys", "newroot", "lib", "lib/modules"):
        entries.append(_entry(directory, 0o040755, b"", ino))
        ino += 1
    entries.append(_entry("bin/busybox", 0o100755, Path(busybox).read_bytes(), ino))
    ino += 1
    order = []
    for path in modules:
        name = f"lib/modules/{os.path.basename(path)}"
        entries.append(_entry(name, 0o100644, Path(path).read_bytes(), ino))
        order.append("/" + name)
        ino += 1
    entries.append(_entry("modules.order", 0o100644, ("\n".join(order) + "\n").encode(), ino))
    entries.append(_entry("init", 0o100755, INIT.encode(), ino + 1))
    entries.append(_entry("TRAILER!!!", 0, b"", 0))
    staged = target.with_suffix(".partial")
    staged.write_bytes(b"".join(entries))
    os.rename(staged, target)
    return target
