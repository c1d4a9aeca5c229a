"""The pod image: imported once per engine (tag = hash of its contents), busybox-static for the shell tools
and the host's `ip` with its libraries, so `docker exec POD ip a` shows the bond."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
import time

from bondlab.world.pods.dockerpod import LABEL_OWNER, EngineError

IMAGE_REPO = "bondlab/pod"
BUSYBOX = "/bin/busybox"
IP = "/usr/bin/ip"


def _libraries(binary: str) -> list:
    proc = subprocess.run(["ldd", binary], capture_output=True, text=True)
    found = []
    for line in proc.stdout.splitlines():
        parts = line.split()
        for part in parts:
            if part.startswith("/"):
                found.append(part)
                break
    return found


def image_files() -> dict:
    """Path in the image -> host file: busybox-static, its applets as links, `ip` and its libraries."""
    for needed, package in ((BUSYBOX, "busybox-static"), (IP, "iproute2")):
        if not os.path.isfile(needed):
            raise EngineError(f"the pod image needs {needed} (fix: apt-get install -y {package})")
    files = {"bin/busybox": BUSYBOX, "sbin/ip": IP}
    for lib in _libraries(IP):
        files[lib.lstrip("/")] = os.path.realpath(lib)
    return files


def _applets() -> list:
    proc = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True)
    return sorted(a for a in proc.stdout.split() if a and a not in ("ip", "busybox"))


def image_tag() -> str:
    digest = hashlib.sha256()
    for inside, host in sorted(image_files().items()):
        stat = os.stat(host)
        digest.update(f"{inside}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return f"{IMAGE_REPO}:{digest.hexdigest()[:12]}"


def image_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "run"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        for inside, host in sorted(image_files().items()):
            tar.add(host, arcname=inside, recursive=False)
        for applet in _applets():
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, "busybox", 0o777
            tar.addfile(info)
        for name, text in (("etc/passwd", "root:x:0:0:root:/:/bin/sh\n"), ("etc/group", "root:x:0:\n")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def ensure_image(api) -> tuple:
    """(tag, seconds spent importing: 0.0 when the engine already had it)."""
    import docker

    tag = image_tag()
    try:
        api.images.get(tag)
        return tag, 0.0
    except docker.errors.ImageNotFound:
        pass
    began = time.monotonic()
    repository, version = tag.split(":")
    api.api.import_image_from_data(
        image_tar(),
        repository=repository,
        tag=version,
        changes=[f"LABEL {LABEL_OWNER}=bondlab", 'CMD ["/bin/sleep", "2147483647"]'],
    )
    api.images.get(tag)
    return tag, time.monotonic() - began
