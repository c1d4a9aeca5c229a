"""`bondlab bench docker`: what the docker pod backend costs.

Prints the engine start (the lab's own dockerd, from nothing to its API answering), the image import (the
pod image into a fresh engine), and the per-pod overhead: N pods (a bond over VFs of two PFs each) deployed
and destroyed with netns pods, then with docker pods, and the difference per pod. An engine that was already
running is used and left alone; then the engine start and import figures are those of that engine (cached).
"""

from __future__ import annotations

import time


def _timed_deploy(pods: int, backend: str) -> tuple:
    from bondlab import deploy
    from bondlab.bench import lab as labbench
    from bondlab.model import yamlsrc
    from bondlab.world import reach

    text = labbench.manifest(pods, "veth", f"dbench{pods}{backend}")
    prepared = deploy.prepare(yamlsrc.load_all(text, "bench.yaml"))
    began = time.monotonic()
    state = deploy.deploy(prepared, pods_backend=backend)
    deployed = time.monotonic() - began
    unreachable = reach.ping_from_pods(state, labbench.GATEWAY)
    began = time.monotonic()
    errors = deploy.destroy(state)
    return deployed, time.monotonic() - began, unreachable, errors


def bench(pods: int) -> int:
    from bondlab.world.pods import dockerpod, image

    engine = dockerpod.default_engine()
    began = time.monotonic()
    url, started = engine.ensure()
    start_s = time.monotonic() - began
    try:
        api = dockerpod.client(url)
        try:
            image, import_s = image.ensure_image(api)
            began = time.monotonic()
            name = f"bl-bench-{time.monotonic_ns() % 10**8}"
            dockerpod.run_pod(api, image, name, {dockerpod.LABEL_OWNER: "bondlab-o-bench"}, "bench")
            one_container = time.monotonic() - began
            api.containers.get(name).remove(force=True)
        finally:
            api.close()
        print(f"engine     {url} {'started by the bench' if started else 'already running'}: {start_s:.2f} s")
        imported = f"imported in {import_s:.2f} s" if import_s else "cached (already imported)"
        print(f"image      {image}: {imported}")
        print(f"container  one `run -d --network none` (create, start, inspect): {one_container:.3f} s")
        print(
            f"{'pods':>5} {'backend':>8} {'deploy s':>9} {'per pod':>8} {'destroy s':>10} {'per pod':>8}  ok"
        )
        per_pod = {}
        bad = 0
        for backend in ("netns", "docker"):
            deployed, destroyed, unreachable, errors = _timed_deploy(pods, backend)
            per_pod[backend] = (deployed / pods, destroyed / pods)
            ok = "all reach the gateway" if not unreachable and not errors else f"{unreachable} {errors}"
            bad += bool(unreachable or errors)
            print(
                f"{pods:>5} {backend:>8} {deployed:>9.2f} {deployed / pods:>8.3f} {destroyed:>10.2f} "
                f"{destroyed / pods:>8.3f}  {ok}"
            )
        extra = [d - n for d, n in zip(per_pod["docker"], per_pod["netns"])]
        print(f"docker overhead per pod: deploy +{extra[0]:.3f} s, destroy +{extra[1]:.3f} s")
    finally:
        if started:
            began = time.monotonic()
            engine.stop()
            print(f"engine stop (the bench started it): {time.monotonic() - began:.2f} s")
    return 1 if bad else 0
