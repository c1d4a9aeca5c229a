"""`bondlab doctor`: what this machine can do for the lab, and the exact command that fixes each gap.

Only the standard library is used, so `PYTHONPATH=lab:plugin python3 -m bondlab doctor --fix` works on a
fresh machine before any venv exists (the ./dev script does exactly that).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from bondlab import capabilities
from bondlab.vm import kernels

# Debian packages, each with what it is for; all of them are needed for ./dev test on a fresh machine.
PACKAGES = {
    "iproute2": "ip/tc for namespaces and links",
    "iputils-ping": "connectivity checks",
    "kmod": "modprobe inside a distribution UML kernel",
    "busybox-static": "the lab VM's poweroff",
    "tcpdump": "captures in scenarios",
    "iperf3": "`bondlab concheck`'s bandwidth per pair",
    "ethtool": "link inspection",
    "graphviz": "`bondlab graph --format svg` (dot)",
    "containernetworking-plugins": "real IPAM and helper CNI plugins (/usr/lib/cni)",
    "user-mode-linux": "Debian's UML kernel (fallback lab VM kernel)",
    "linux-source-6.12": "source of the lab kernel",
    "build-essential": "compiler for the lab kernel",
    "bc": "lab kernel build",
    "flex": "lab kernel build",
    "bison": "lab kernel build",
    "patch": "lab kernel patches",
    "xz-utils": "unpacking the kernel source",
    "python3-venv": "the project's venv",
    f"libpython3.{sys.version_info[1]}": "bin/bond-standalone (the bundle holds libpython)",
    "patchelf": "bin/bond-standalone (Nuitka sets the rpath of what it bundles)",
    "python3-dev": "bin/bond-standalone (Nuitka compiles against Python.h and libpython)",
    "qemu-system-x86": "the qemu engine (a full VM; fast where KVM works)",
    "docker.io": "the docker pod backend: dockerd, containerd, runc (the lab starts its own engine)",
    "chromium": "the HTML report's browser test (headless)",
    "chromium-driver": "chromedriver: selenium drives chromium with it in the report's browser test",
}
CNI_PLUGINS = ("host-local", "static", "host-device", "dhcp", "bridge", "macvlan", "tuning")
CNI_DIR = "/usr/lib/cni"


@dataclass
class Finding:
    topic: str
    ok: bool
    detail: str
    fix: str = ""


def missing_packages() -> list:
    missing = []
    for package in PACKAGES:
        proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        if "install ok installed" not in proc.stdout:
            missing.append(package)
    return missing


def examine() -> list:
    findings = []
    caps = capabilities.probe()
    findings.append(Finding("host kernel", True, f"{caps.kernel}, {os.cpu_count()} CPUs"))
    for feature in capabilities.REQUIRED + capabilities.OPTIONAL:
        ok = caps.has(feature)
        findings.append(Finding(f"host: {feature}", ok, "yes" if ok else caps.reason(feature)))
    native = caps.native
    findings.append(
        Finding("engine host", bool(native), "the host kernel can run the lab" if native else native.reason)
    )

    lab = kernels.cached_lab_kernel()
    tarballs = kernels.source_tarballs()
    findings.append(
        Finding(
            "lab kernel",
            lab is not None,
            lab.describe() + " (netdevsim: yes)" if lab else "not built",
            ""
            if lab
            else "bondlab kernel build"
            + ("" if tarballs else "  (after: apt-get install -y linux-source-6.12)"),
        )
    )
    debian = kernels.debian_kernel()
    problem = kernels.debian_kernel_problem()
    if debian is None:
        findings.append(
            Finding("Debian UML kernel", False, "not installed", "apt-get install -y user-mode-linux")
        )
    else:
        findings.append(
            Finding("Debian UML kernel", not problem, debian.describe() + (f": {problem}" if problem else ""))
        )
    try:
        chosen = kernels.find_kernel()
        findings.append(
            Finding(
                "engine uml",
                True,
                f"boots {chosen.describe()}, netdevsim: {'yes' if chosen.netdevsim else 'no'}",
            )
        )
    except kernels.KernelError as error:
        findings.append(Finding("engine uml", False, str(error), "bondlab kernel build"))
    from bondlab.vm.qemu import QemuEngine

    qemu = QemuEngine().available()
    findings.append(
        Finding(
            "engine qemu",
            bool(qemu),
            qemu.reason,
            "" if qemu else "apt-get install -y qemu-system-x86 && bondlab kernel fetch",
        )
    )
    findings.append(_named_kernels())
    netdevsim = caps.has("netdevsim") or lab is not None
    findings.append(
        Finding(
            "netdevsim",
            netdevsim,
            "in the host kernel"
            if caps.has("netdevsim")
            else ("in the lab kernel" if lab else "no kernel has it"),
            "" if netdevsim else "bondlab kernel build",
        )
    )
    found = [name for name in CNI_PLUGINS if os.access(os.path.join(CNI_DIR, name), os.X_OK)]
    findings.append(
        Finding(
            "CNI plugins",
            "host-local" in found,
            f"{CNI_DIR}: {', '.join(found) or 'none'}",
            "" if "host-local" in found else "apt-get install -y containernetworking-plugins",
        )
    )
    findings.append(docker_engine(native))
    missing = missing_packages() if shutil.which("dpkg-query") else []
    findings.append(
        Finding(
            "Debian packages",
            not missing,
            "all present" if not missing else "missing: " + ", ".join(missing),
            "" if not missing else "apt-get install -y --no-install-recommends " + " ".join(missing),
        )
    )
    return findings


def _pings(path: str) -> bool:
    """Does a Docker Engine API answer on this unix socket (GET /_ping)? stdlib only."""
    import socket

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(3)
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b" 200 " in sock.recv(4096).split(b"\r\n", 1)[0] + b" "
    except OSError:
        return False


def docker_engine(native: bool) -> Finding:
    """The docker pod backend: an engine that answers, or one the lab can start (in the lab VM if need be)."""
    host = os.environ.get("DOCKER_HOST", "")
    sockets = [host[len("unix://") :]] if host.startswith("unix://") else []
    sockets += [os.path.join(os.environ.get("BONDLAB_DOCKER_RUN", "/run/bondlab-docker"), "docker.sock")]
    sockets += ["/var/run/docker.sock"]
    for path in sockets:
        if os.path.exists(path) and _pings(path):
            return Finding("docker engine", True, f"running at unix://{path} (docker pods use it)")
    missing = [tool for tool in ("dockerd", "containerd", "runc") if shutil.which(tool) is None]
    if missing:
        return Finding(
            "docker engine",
            False,
            f"none running and none can be started: {', '.join(missing)} not installed",
            "apt-get install -y --no-install-recommends docker.io",
        )
    where = "on this kernel" if native else "inside the lab VM"
    return Finding("docker engine", True, f"none running; docker pods start the lab's own dockerd {where}")


def report(findings: list, out=sys.stdout) -> None:
    width = max(len(f.topic) for f in findings)
    for finding in findings:
        mark = "ok " if finding.ok else "-- "
        out.write(f"{mark} {finding.topic:<{width}}  {finding.detail}\n")
        if finding.fix:
            out.write(f"    {'':<{width}}  fix: {finding.fix}\n")


def fix(build_kernel: bool = True) -> int:
    """Install missing Debian packages (root only), then build the lab kernel if the host cannot bond."""
    missing = missing_packages()
    if missing:
        if os.geteuid() != 0:
            print("bondlab doctor: installing packages needs root: " + " ".join(missing), file=sys.stderr)
            return 1
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        print("bondlab doctor: installing " + " ".join(missing), file=sys.stderr, flush=True)
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], check=True, env=env
        )
        capabilities.probe.cache_clear()
    if build_kernel and not capabilities.probe().native and kernels.cached_lab_kernel() is None:
        kernels.build()
    from bondlab.vm.qemu import QemuEngine

    if shutil.which("qemu-system-x86_64") and not QemuEngine().available():
        kernels.fetch_distribution_kernel()
    return 0


def _named_kernels() -> Finding:
    """Which `--kernel` names can run here; the Debian ones not fetched yet are optional, so not a failure."""
    from bondlab.vm import catalog
    from bondlab.vm.engine import VmError

    ready, missing = [], []
    for named in catalog.KERNELS.values():
        try:
            catalog.engine(named, fetch=False)
            ready.append(named.name)
        except VmError:
            (missing if named.package else []).append(named.name)
    detail = f"ready: {', '.join(ready) or 'none'}" + (f"; not fetched: {', '.join(missing)}" * bool(missing))
    return Finding(
        "kernels (--kernel)", True, detail, f"bondlab kernel fetch {' '.join(missing)}" * bool(missing)
    )
