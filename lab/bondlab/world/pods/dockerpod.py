"""Pods as real containers: the lab's own Docker engine, its image, and one container per pod.

The engine is driven through docker-py (the Engine API), never by parsing CLI output:

- `DockerEngine.ensure()` finds an engine that answers (`DOCKER_HOST`, the lab's own socket,
  /var/run/docker.sock) or starts the lab's own: cgroup2 on /sys/fs/cgroup when nothing is mounted there,
  then `dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs` with its data root,
  exec root, socket and pidfile in directories of its own (so it never touches a user's engine).
  `DockerEngine.stop()` stops only that engine: SIGTERM, poll until gone, unmount what is left under its
  directories, remove them, unmount the cgroup2 it mounted. An engine that cannot start is one EngineError
  naming the cause.
- the pod image: see pods/image.py.
- `run_pod()` creates a pod as `docker run -d --network none` with labels marking it as the lab's; the
  pod's netns is /proc/PID/ns/net. `remove_lab()` removes a lab's containers by label only.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from bondlab.util import procs
from bondlab.world.labstate import LabError

LABEL_OWNER = "bondlab.owner"  # the lab's mark, bondlab-o-<id>
LABEL_LAB = "bondlab.lab"  # the lab id
LABEL_POD = "bondlab.pod"  # namespace/name
SYSTEM_SOCKET = "/var/run/docker.sock"
START_TIMEOUT = float(os.environ.get("BONDLAB_DOCKER_START_TIMEOUT", "180"))
STOP_TIMEOUT = 30.0
CGROUP = "/sys/fs/cgroup"
ETC = "/etc/docker"
SIDE_DIRS = ("/run/docker", "/run/containerd")
# The pod image: busybox-static (sh, sleep, ping, cat, ...) and the host's iproute2 `ip`.


class EngineError(LabError):
    """The container engine is not there or cannot start; the message names the cause."""


def _api(base_url: str, timeout: float = 60):
    import docker

    return docker.DockerClient(base_url=base_url, timeout=timeout)


def _answers(base_url: str) -> bool:
    path = base_url[len("unix://") :] if base_url.startswith("unix://") else None
    if path is not None and not os.path.exists(path):
        return False
    try:
        client = _api(base_url, timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _mounts() -> list:
    """Mount points from /proc/self/mountinfo (octal escapes decoded), in mount order."""
    out = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            point = line.split()[4]
            out.append(point.encode().decode("unicode_escape"))
    return out


def _mount_type(point: str) -> Optional[str]:
    found = None
    with open("/proc/self/mountinfo") as info:
        for line in info:
            fields = line.split()
            if fields[4] == point:
                found = fields[fields.index("-") + 1]
    return found


def _writable(directory: str) -> bool:
    """Can a file really be made there (access(2) says yes on a read-only hostfs root)?"""
    os.makedirs(directory, exist_ok=True) if os.access(os.path.dirname(directory), os.W_OK) else None
    probe = os.path.join(directory, f".bondlab-probe-{os.getpid()}")
    try:
        with open(probe, "w"):
            pass
    except OSError:
        return False
    os.unlink(probe)
    return True


@dataclass
class DockerEngine:
    """The lab's own dockerd: where it lives. `DOCKER_HOST` or a system engine is used, never stopped."""

    run_dir: Path
    data_root: Path

    @property
    def socket(self) -> Path:
        return self.run_dir / "docker.sock"

    @property
    def own_url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def owner_file(self) -> Path:
        return self.run_dir / "engine.json"

    def running_url(self) -> Optional[str]:
        """An engine that answers: DOCKER_HOST, else the lab's own, else the system's."""
        if os.environ.get("DOCKER_HOST", self.own_url) != self.own_url:
            return os.environ["DOCKER_HOST"] if _answers(os.environ["DOCKER_HOST"]) else None
        for url in (self.own_url, f"unix://{SYSTEM_SOCKET}"):
            if _answers(url):
                return url
        return None

    def is_own(self, url: str) -> bool:
        return url == self.own_url

    def ensure(self, progress: Callable = lambda text: None) -> tuple:
        """(base URL, started): the engine that answers, or the lab's own, started now."""
        url = self.running_url()
        if url:
            return url, False
        if os.environ.get("DOCKER_HOST") and os.environ["DOCKER_HOST"] != self.own_url:
            raise EngineError(f"DOCKER_HOST={os.environ['DOCKER_HOST']} does not answer")
        self.start(progress)
        return self.own_url, True

    # -- the lab's own engine ---------------------------------------------------------------------
    def start(self, progress: Callable = lambda text: None) -> float:
        """Start dockerd; return seconds until its API answered. Raise EngineError naming the cause."""
        missing = [tool for tool in ("dockerd", "containerd", "runc") if shutil.which(tool) is None]
        if missing:
            raise EngineError(
                f"the docker pod backend needs a container engine, but {', '.join(missing)} "
                "is not installed (fix: apt-get install -y docker.io, or `bondlab doctor --fix`)"
            )
        began = time.monotonic()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # dockerd and its containerd also make these (plugin sockets, shim sockets, runc state): removed on
        # stop when they did not exist before the lab's engine.
        record: dict = {"cgroup_mounted": False, "created": [d for d in SIDE_DIRS if not os.path.exists(d)]}
        if _mount_type(CGROUP) is None:
            proc = subprocess.run(
                ["mount", "-t", "cgroup2", "cgroup2", CGROUP], capture_output=True, text=True
            )
            if proc.returncode != 0:
                self._remove_dirs()
                raise EngineError(
                    f"the docker engine cannot start: mounting cgroup2 on {CGROUP} failed: "
                    f"{proc.stderr.strip()} (the kernel needs CONFIG_CGROUPS)"
                )
            record["cgroup_mounted"] = True
        self.owner_file.write_text(json.dumps(record))
        if not _writable(ETC):
            # dockerd 20.10 writes its trust key to /etc/docker whatever the config says; in the lab VM the
            # host root is read-only, so a directory of the engine's own is bound over it while it runs.
            (self.run_dir / "etc").mkdir(exist_ok=True)
            proc = subprocess.run(
                ["mount", "--bind", str(self.run_dir / "etc"), ETC], capture_output=True, text=True
            )
            if proc.returncode != 0:
                self.stop()
                raise EngineError(
                    f"the docker engine cannot start: binding {ETC} failed: {proc.stderr.strip()}"
                )
            record["etc_mounted"] = True
            self.owner_file.write_text(json.dumps(record))
        config = self.run_dir / "daemon.json"
        # Not /etc/docker/daemon.json: the lab's engine has settings of its own.
        config.write_text("{}\n")
        log = self.run_dir / "dockerd.log"
        argv = [
            "dockerd",
            f"--config-file={config}",
            f"--data-root={self.data_root}",
            f"--exec-root={self.run_dir / 'exec'}",
            f"--pidfile={self.run_dir / 'dockerd.pid'}",
            f"--host={self.own_url}",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-forward=false",
            "--bridge=none",
            "--storage-driver=vfs",
        ]
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        record.update(pid=proc.pid, argv=argv, data_root=str(self.data_root))
        self.owner_file.write_text(json.dumps(record))
        progress(f"starting the lab's docker engine (dockerd pid {proc.pid}, {self.own_url})")
        deadline = began + START_TIMEOUT
        while True:
            code = proc.poll()
            if code is not None:
                cause = self._log_cause(log)
                self.stop()
                raise EngineError(f"the docker engine cannot start: dockerd exited with code {code}: {cause}")
            if _answers(self.own_url):
                return time.monotonic() - began
            if time.monotonic() >= deadline:
                cause = self._log_cause(log)
                self.stop()
                raise EngineError(
                    f"the docker engine cannot start: its API did not answer within {START_TIMEOUT:g} s "
                    f"(BONDLAB_DOCKER_START_TIMEOUT); last log line: {cause}"
                )
            time.sleep(0.1)

    @staticmethod
    def _log_cause(log: Path) -> str:
        try:
            lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "no log"
        fatal = [line for line in lines if "level=fatal" in line or "failed to start" in line.lower()]
        line = (fatal or lines or ["no output"])[-1]
        if 'msg="' in line:
            line = line.split('msg="', 1)[1].rsplit('"', 1)[0]
        return line.strip()

    def owned(self) -> Optional[dict]:
        try:
            return json.loads(self.owner_file.read_text())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """Stop the lab's own engine (never another) and leave no process, mount or directory behind."""
        record = self.owned()
        if record is None:
            self._remove_dirs()
            return
        pid = record.get("pid")
        if pid and procs.alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while procs.alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if procs.alive(pid):
                os.killpg(pid, signal.SIGKILL)
        self._kill_strays()
        for point in reversed(_mounts()):
            if any(point == str(d) or point.startswith(f"{d}/") for d in (self.run_dir, self.data_root)):
                subprocess.run(["umount", "-l", point], capture_output=True)
        if record.get("etc_mounted"):
            subprocess.run(["umount", ETC], capture_output=True)
        if record.get("cgroup_mounted") and not self._engine_processes():
            subprocess.run(["umount", CGROUP], capture_output=True)
        for directory in record.get("created", []):
            shutil.rmtree(directory, ignore_errors=True)
        self._remove_dirs()

    def _remove_dirs(self) -> None:
        shutil.rmtree(self.data_root, ignore_errors=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def _engine_processes(self) -> list:
        """Processes of the lab's engine: dockerd/containerd/shims with an argument in its directories."""
        roots = (str(self.run_dir), str(self.data_root))
        found = []
        for pid, args in procs.command_lines():
            values = [arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg for arg in args]
            if any(v == r or v.startswith(f"{r}/") for v in values for r in roots) and procs.alive(pid):
                found.append(pid)
        return found

    def _kill_strays(self) -> None:
        for pid in self._engine_processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + STOP_TIMEOUT
        while self._engine_processes() and time.monotonic() < deadline:
            time.sleep(0.05)


def default_engine() -> DockerEngine:
    """The lab's engine: BONDLAB_DOCKER_RUN (default /run/bondlab-docker), BONDLAB_DOCKER_ROOT (data root)."""
    return DockerEngine(
        Path(os.environ.get("BONDLAB_DOCKER_RUN", "/run/bondlab-docker")),
        Path(os.environ.get("BONDLAB_DOCKER_ROOT", "/var/lib/bondlab-docker")),
    )


def client(url: str):
    return _api(url)


# -- pods --------------------------------------------------------------------------------------------
def run_pod(api, image: str, name: str, labels: dict, hostname: str) -> tuple:
    """Start a pod container (network none); return (container id, PID of its first process)."""
    container = api.containers.run(
        image,
        ["/bin/sleep", "2147483647"],
        name=name,
        hostname=hostname[:63],
        detach=True,
        network_mode="none",
        labels=labels,
    )
    container.reload()
    pid = container.attrs["State"]["Pid"]
    if not pid:
        raise EngineError(
            f"container {name} did not start: {container.attrs['State'].get('Error') or 'no pid'}"
        )
    return container.id, pid


def lab_containers(api, lab_id: Optional[str] = None) -> list:
    label = f"{LABEL_LAB}={lab_id}" if lab_id else LABEL_OWNER
    return api.containers.list(all=True, filters={"label": label})


def remove_lab(api, lab_id: Optional[str] = None) -> int:
    """Remove a lab's containers (every lab's when lab_id is None), found by label only."""
    import docker

    removed = 0
    for container in lab_containers(api, lab_id):
        try:
            container.remove(force=True)
            removed += 1
        except docker.errors.NotFound:
            pass
    return removed


def clean(lab_id: Optional[str] = None) -> dict:
    """`bondlab clean`: remove lab containers by label on the engine in use; with no lab id and no lab
    container left, stop the lab's own engine too. Nothing happens where no engine answers."""
    engine = default_engine()
    url = engine.running_url()
    out: dict = {"containers": 0}
    if url:
        api = client(url)
        try:
            out["containers"] = remove_lab(api, lab_id)
            left = lab_containers(api)
        finally:
            api.close()
        if engine.is_own(url) and lab_id is None and not left and engine.owned():
            engine.stop()
            out["engine_stopped"] = True
    elif engine.owned():
        engine.stop()  # the lab's engine died: still take its mounts and directories away
        out["engine_stopped"] = True
    return out
