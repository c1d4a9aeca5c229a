"""Pod backends: where a pod's network namespace comes from. Everything after that is the same.

- `netns` (default): `ip netns add bl-<id>-pod-<ns>-<name>`, fast, no engine.
- `docker`: a real container made by a Docker engine (see dockerpod.py) with `--network none` and the
  lab's labels; CNI_NETNS is the container's /proc/PID/ns/net, as a container runtime hands it to the
  plugin. The same netns is also attached under the pod's netns name (`ip netns attach`, marked on `lo`
  like every lab netns), so scenarios, probes, `bondlab exec` and `clean` work on both backends unchanged.

Chosen per deploy: `deploy(..., pods=)` (the `--pods` flag of deploy/run), else `spec.pods` of the BondLab
topology document, else $BONDLAB_PODS, else netns. Teardown is in the lab's undo log: per pod the CNI DEL
and the netns attach; per lab the removal of its containers by label, and stopping the engine if this lab
started it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Optional

from bondlab.world.build import make_netns
from bondlab.world.labstate import LabError, LabState
from bondlab.world.netns import batch, run
from bondlab.world.records import Docker

BACKENDS = ("netns", "docker")


def choose(explicit: Optional[str] = None, topo=None) -> str:
    backend = explicit or getattr(topo, "pods", None) or os.environ.get("BONDLAB_PODS") or "netns"
    if backend not in BACKENDS:
        raise LabError(f"pod backend {backend!r} is not one of {', '.join(BACKENDS)}")
    return backend


def setup(state: LabState, backend: str, progress: Callable = lambda text: None) -> None:
    """Record the backend; for docker, have an engine (start the lab's own if none answers) and the image."""
    state.pod_backend = backend
    state.save()
    if backend != "docker":
        return
    from bondlab.world.pods import dockerpod, image

    engine = dockerpod.default_engine()
    began = time.monotonic()
    url, started = engine.ensure(progress)
    if started:
        state.defer("docker-engine-stop", run_dir=str(engine.run_dir), data_root=str(engine.data_root))
    started_s = time.monotonic() - began
    state.defer("docker-lab-rm", url=url)  # before any container: a half-made pod is removed too
    api = dockerpod.client(url)
    try:
        image, import_s = image.ensure_image(api)
    finally:
        api.close()
    state.docker = Docker(url, image, started, round(started_s, 3), round(import_s, 3))
    state.save()
    progress(
        f"docker engine {url} ({'started' if started else 'running'}, {started_s:.1f} s), "
        f"image {image} ({f'imported in {import_s:.1f} s' if import_s else 'cached'})"
    )


def create(state: LabState, pod) -> dict:
    """Make the pod's sandbox; return what joins its record: netns (a name), maybe netns_path, container."""
    role = f"pod-{pod.namespace}-{pod.name}"
    if state.pod_backend != "docker":
        return {"netns": make_netns(state, role).name}
    from bondlab.world.pods import dockerpod

    info = state.docker
    name = state.netns_name(role)
    labels = {dockerpod.LABEL_OWNER: state.mark, dockerpod.LABEL_LAB: state.id, dockerpod.LABEL_POD: pod.key}
    api = dockerpod.client(info.url)
    try:
        _cid, pid = dockerpod.run_pod(api, info.image, name, labels, pod.name)
    finally:
        api.close()
    state.defer("netns-del", name=name)
    run(["ip", "netns", "attach", name, str(pid)])
    batch(name, ["link set lo up", f"link set lo alias {state.mark}"])
    return {"netns": name, "netns_path": f"/proc/{pid}/ns/net", "container": name}


def cni_netns(pod) -> str:
    """CNI_NETNS for a pod (world.records.Pod): the container's /proc/PID/ns/net while it runs, else the
    attached netns."""
    if pod.netns_path and os.path.exists(pod.netns_path):
        return pod.netns_path
    return f"/run/netns/{pod.netns}"


# -- undo handlers ---------------------------------------------------------------------------------
def _docker_lab_rm(state: LabState, url: str) -> None:
    from bondlab.world.pods import dockerpod

    if not dockerpod._answers(url):
        raise LabError(f"docker engine {url} does not answer: lab {state.id}'s containers may remain")
    api = dockerpod.client(url)
    try:
        dockerpod.remove_lab(api, state.id)
    finally:
        api.close()


def _docker_engine_stop(state: LabState, run_dir: str, data_root: str) -> None:
    """Stop the engine this lab started, unless another lab's containers still run on it."""
    from bondlab.world.pods import dockerpod

    engine = dockerpod.DockerEngine(Path(run_dir), Path(data_root))
    if dockerpod._answers(engine.own_url):
        api = dockerpod.client(engine.own_url)
        try:
            others = dockerpod.lab_containers(api)
        finally:
            api.close()
        if others:
            return
    engine.stop()


HANDLERS = {"docker-lab-rm": _docker_lab_rm, "docker-engine-stop": _docker_engine_stop}


def container_exec(state: LabState, pod, command: list) -> int:
    """`bondlab exec POD -- CMD` for a docker pod: run CMD in its container (Engine API exec)."""
    import sys

    from bondlab.world.pods import dockerpod

    api = dockerpod.client(state.docker.url)
    try:
        code, (out, err) = api.containers.get(pod.container).exec_run(command, demux=True)
    finally:
        api.close()
    sys.stdout.write((out or b"").decode(errors="replace"))
    sys.stderr.write((err or b"").decode(errors="replace"))
    return code
