"""A testinfra backend for `netns://NAME`: every module (interface, file, sysctl, ...) runs inside that
network namespace, through `ip netns exec` (which also remounts /sys for the netns).

    from bondlab.pytest import infra
    host = infra.host("bl-1a2b3c-pod-default-test-pod")     # or testinfra.get_host("netns://...")
    assert host.interface("bond0").exists

Docker pods (the `docker` pod backend) are also `docker://NAME` hosts (testinfra's own backend, `docker exec`
on the engine $DOCKER_HOST names): infra.container(pod_record) points DOCKER_HOST at the lab's engine.
"""

from __future__ import annotations

import functools


@functools.cache
def _backend_class():
    from testinfra.backend import base

    class NetnsBackend(base.BaseBackend):
        NAME = "netns"

        def __init__(self, name: str, *args, **kwargs) -> None:
            self.netns = name
            super().__init__(self.netns, *args, **kwargs)

        def run(self, command: str, *args, **kwargs):
            cmd = self.get_command(command, *args)
            return self.run_local("ip netns exec %s /bin/sh -c %s", self.netns, cmd)

    return NetnsBackend


def register() -> None:
    """Make `netns://NAME` a testinfra host spec (testinfra reads its BACKENDS table at call time)."""
    from testinfra import backend

    backend.BACKENDS.setdefault("netns", "bondlab.pytest.infra.NetnsBackend")


def __getattr__(name: str):
    if name == "NetnsBackend":
        return _backend_class()
    raise AttributeError(name)


def host(netns: str):
    import testinfra

    register()
    return testinfra.get_host(f"netns://{netns}")


def container(pod, url: str):
    """The testinfra host of a docker pod (world.records.Pod): `docker://<container>` on the engine at `url`
    (DOCKER_HOST)."""
    import os

    import testinfra

    if not pod.container:
        raise ValueError(f"pod {pod.key} is not a container (pod backend netns)")
    os.environ["DOCKER_HOST"] = url
    return testinfra.get_host(f"docker://{pod.container}")
