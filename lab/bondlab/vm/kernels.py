"""The lab's user-mode-linux kernels: find one to boot, or build the project's own.

Two kinds can boot the lab VM:
- the lab kernel, built here from Debian's linux-source package with the committed config fragment
  (everything built in, netdevsim included, 1000 Hz) and the committed patches, cached per source
  version and per hash of fragment + patches, and reused;
- Debian's `user-mode-linux` package kernel, with its modules (no netdevsim).
`BONDLAB_KERNEL=/path/to/linux` overrides both.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from bondlab.util.paths import cache_dir
from bondlab.vm.engine import GuestKernel

HERE = Path(__file__).resolve().parent / "kernel"  # the recipe: config fragment and patches
FRAGMENT = HERE / "lab.config"
DEBIAN_UML = Path("/usr/bin/linux.uml")
DEBIAN_UML_MODULES = Path("/usr/lib/uml/modules")
DEFAULT_SOURCE_SERIES = "6.12"
# Modules a distribution kernel (UML or qemu) needs loaded for the lab (bonding needs ipv6 first): what the
# lab kernel's config fragment builds in, as modules (VF rate limits need ifb and sch_tbf, the fabric's VLAN
# and LACP rules act_vlan, cls_matchall, act_pedit, act_skbedit). netdevsim is not in Debian's images.
LAB_MODULES = (
    "ipv6 veth bonding bridge 8021q dummy macvlan ipvlan tun ifb sch_netem sch_ingress sch_tbf sch_htb "
    "sch_prio cls_basic cls_flower cls_u32 cls_matchall act_gact act_mirred act_pedit act_skbedit act_vlan "
    "xfrm_user nfnetlink overlay"
).split()
# Objects a build of 6.12 with the fragment compiles (1110 measured): make's output as a percentage.
EXPECTED_OBJECTS = 1120


class KernelError(Exception):
    pass


def patches() -> list:
    return sorted(HERE.glob("*.patch"))


def recipe_hash() -> str:
    digest = hashlib.sha256()
    for part in [FRAGMENT, *patches()]:
        digest.update(part.name.encode() + b"\0" + part.read_bytes())
    return digest.hexdigest()[:12]


def source_tarballs() -> dict:
    """Installed linux-source tarballs: series ("6.12") -> path."""
    found = {}
    for path in glob.glob("/usr/src/linux-source-*.tar.xz"):
        match = re.search(r"linux-source-(\d+\.\d+)\.tar\.xz$", path)
        if match:
            found[match.group(1)] = Path(path)
    return found


def source_version(series: str) -> str:
    """The Debian package version of linux-source-SERIES (it changes with every stable update)."""
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", f"linux-source-{series}"], capture_output=True, text=True
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        raise KernelError(
            f"linux-source-{series} is not installed; "
            f"install it with: apt-get install -y linux-source-{series}"
        )
    return proc.stdout.strip()


def lab_kernel_dir(series: str, version: str) -> Path:
    return cache_dir() / "kernels" / f"uml-{version}-{recipe_hash()}"


def cached_lab_kernel() -> Optional[GuestKernel]:
    """The newest lab kernel built from the current recipe, if any."""
    candidates = sorted(
        glob.glob(str(cache_dir() / "kernels" / f"uml-*-{recipe_hash()}" / "linux")), reverse=True
    )
    for path in candidates:
        info = Path(path).with_name("build-info.json")
        version = json.loads(info.read_text()).get("source_version", "?") if info.exists() else "?"
        return GuestKernel(Path(path), f"lab kernel {version}", None, True)
    return None


def debian_kernel() -> Optional[GuestKernel]:
    if not DEBIAN_UML.exists():
        return None
    trees = sorted(DEBIAN_UML_MODULES.glob("*/kernel"))
    modules = trees[-1].parent if trees else None
    version = modules.name if modules else "?"
    return GuestKernel(DEBIAN_UML, f"Debian user-mode-linux {version}", modules, False)


def host_cpu_has_amx() -> bool:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return any(line.startswith("flags") and " amx_tile" in line for line in cpuinfo)
    except OSError:
        return False


def debian_kernel_problem() -> str:
    """Why Debian's UML kernel cannot run here, or "" if it can."""
    if host_cpu_has_amx():
        return (
            "this CPU has AMX: its XSAVE area (about 11 KiB) is larger than the 2696 bytes Debian's UML 6.1 "
            "kernel passes to ptrace, so the guest dies with 'ptrace set fp regs failed, errno = 14'; "
            "the lab kernel carries a fix (bondlab kernel build)"
        )
    return ""


def find_kernel() -> GuestKernel:
    """The kernel the UML engine boots: BONDLAB_KERNEL, else the lab kernel, else Debian's."""
    override = os.environ.get("BONDLAB_KERNEL")
    if override:
        path = Path(override)
        if not path.is_file() or not os.access(path, os.X_OK):
            raise KernelError(f"BONDLAB_KERNEL={override} is not an executable UML kernel")
        modules = os.environ.get("BONDLAB_KERNEL_MODULES")
        return GuestKernel(path, "BONDLAB_KERNEL", Path(modules) if modules else None, True)
    lab = cached_lab_kernel()
    if lab:
        return lab
    debian = debian_kernel()
    if debian is None:
        raise KernelError(
            "no UML kernel: build the lab kernel with `bondlab kernel build` "
            "(needs: apt-get install -y linux-source-6.12 build-essential bc flex bison) "
            "or install Debian's: apt-get install -y user-mode-linux kmod"
        )
    problem = debian_kernel_problem()
    if problem:
        raise KernelError(f"Debian's UML kernel cannot run on this machine: {problem}")
    return debian


def _progress(message: str) -> None:
    print(f"[kernel] {message}", file=sys.stderr, flush=True)


def _check(args: list, cwd: Path, what: str) -> None:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise KernelError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def _verify_config(tree: Path) -> None:
    """Every option the fragment asks for must have survived olddefconfig (a missing dependency drops it)."""
    config = (tree / ".config").read_text()
    wanted = re.findall(r"^(CONFIG_\w+)=(.+)$", FRAGMENT.read_text(), re.M)
    lost = []
    for option, value in wanted:
        if value == "n":
            if re.search(rf"^{option}=[ym]", config, re.M):
                lost.append(f"{option}=n")
        elif not re.search(rf"^{option}={re.escape(value)}$", config, re.M):
            lost.append(f"{option}={value}")
    if lost:
        raise KernelError("the kernel config dropped options the fragment asks for: " + ", ".join(lost))


def build(
    series: str = DEFAULT_SOURCE_SERIES, jobs: Optional[int] = None, force: bool = False
) -> GuestKernel:
    """Build (or reuse) the lab kernel from linux-source-SERIES; progress goes to stderr."""
    tarball = source_tarballs().get(series)
    if tarball is None:
        raise KernelError(
            f"/usr/src/linux-source-{series}.tar.xz not found; install it with: "
            f"apt-get install -y linux-source-{series}"
        )
    for tool in ("make", "gcc", "bc", "flex", "bison", "patch", "strip"):
        if shutil.which(tool) is None:
            raise KernelError(
                f"`{tool}` is missing; install the build tools with: "
                "apt-get install -y build-essential bc flex bison patch xz-utils"
            )
    version = source_version(series)
    target = lab_kernel_dir(series, version)
    if (target / "linux").exists() and not force:
        _progress(f"reusing {target / 'linux'} (source {version}, recipe {recipe_hash()})")
        return GuestKernel(target / "linux", f"lab kernel {version}", None, True)
    target.parent.mkdir(parents=True, exist_ok=True)
    jobs = jobs or os.cpu_count() or 1
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bondlab-kbuild-", dir=target.parent) as work:
        work = Path(work)
        _progress(f"extracting {tarball.name}")
        _check(["tar", "xf", str(tarball), "-C", str(work)], work, "extracting the source")
        tree = next(work.glob("linux-source-*"))
        for patch in patches():
            _progress(f"applying {patch.name}")
            _check(["patch", "-p1", "-i", str(patch)], tree, f"applying {patch.name}")
        _progress("configuring: defconfig + " + FRAGMENT.name)
        _check(["make", "ARCH=um", "defconfig"], tree, "make defconfig")
        _check(
            ["scripts/kconfig/merge_config.sh", "-m", ".config", str(FRAGMENT)], tree, "merging the fragment"
        )
        _check(["make", "ARCH=um", "olddefconfig"], tree, "make olddefconfig")
        _verify_config(tree)
        _progress(f"compiling with {jobs} jobs (about 5 minutes on 2 idle cores)")
        _compile(tree, jobs, started)
        staged = target.with_name(target.name + ".partial")
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir()
        _check(["strip", "-o", str(staged / "linux"), str(tree / "linux")], tree, "strip")
        shutil.copy(tree / ".config", staged / "config")
        info = {
            "source_series": series,
            "source_version": version,
            "recipe": recipe_hash(),
            "patches": [p.name for p in patches()],
            "build_seconds": round(time.monotonic() - started, 1),
        }
        (staged / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        os.rename(staged, target)
    _progress(f"built {target / 'linux'} in {time.monotonic() - started:.0f} s")
    return GuestKernel(target / "linux", f"lab kernel {version}", None, True)


def _compile(tree: Path, jobs: int, started: float) -> None:
    proc = subprocess.Popen(
        ["make", "ARCH=um", f"-j{jobs}", "linux"],
        cwd=tree,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    compiled, last_report, tail = 0, 0.0, []
    assert proc.stdout is not None
    for line in proc.stdout:
        tail = (tail + [line.rstrip()])[-30:]
        if line.lstrip().startswith("CC "):
            compiled += 1
        now = time.monotonic()
        if now - last_report >= 10:
            last_report = now
            share = min(99, compiled * 100 // EXPECTED_OBJECTS)
            _progress(
                f"{share:3d}%  {compiled} objects  {int(now - started) // 60}m{int(now - started) % 60:02d}s"
            )
    if proc.wait() != 0:
        raise KernelError("make failed:\n" + "\n".join(tail))


def distribution_kernels_dir() -> Path:
    return cache_dir() / "qemu" / "kernels"


def fetch_distribution_kernel(package: str = "linux-image-amd64") -> Path:
    """Unpack Debian's kernel package (not installed: nothing on the host changes) for the qemu engine.

    Returns the unpacked tree's root: boot/vmlinuz-<version> and lib/modules/<version> (depmod'ed).
    """
    proc = subprocess.run(["apt-cache", "depends", package], capture_output=True, text=True)
    depends = re.findall(r"Depends: (linux-image-[\w.+-]+)", proc.stdout)
    if not depends and "/" in package:
        suite = package.split("/", 1)[1]
        raise KernelError(
            f"apt knows no {package}: add {suite} to apt's sources, e.g. echo 'deb "
            f"http://deb.debian.org/debian {suite} main' > /etc/apt/sources.list.d/{suite}.list "
            "&& apt-get update"
        )
    real = depends[0] if depends else package
    target = distribution_kernels_dir() / real
    if (target / "boot").is_dir():
        _progress(f"reusing {target}")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bondlab-kfetch-", dir=target.parent) as work:
        _progress(f"downloading {real}")
        _check(["apt-get", "download", real], Path(work), f"apt-get download {real}")
        (deb,) = Path(work).glob("*.deb")
        staged = Path(work) / "root"
        _check(["dpkg-deb", "-x", str(deb), str(staged)], Path(work), "unpacking the kernel package")
        (version,) = [p.name for p in (staged / "lib" / "modules").iterdir()]
        _check(["depmod", "-b", str(staged), version], Path(work), "depmod")
        os.rename(staged, target)
    _progress(f"unpacked {real} into {target}")
    return target
