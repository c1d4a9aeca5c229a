"""The docker pod backend without a kernel: backend choice, the pod image, a missing engine."""

from __future__ import annotations

import io
import tarfile

import pytest

from bondlab import deploy
from bondlab.model import yamlsrc
from bondlab.model.yamlsrc import SourceError
from bondlab.world import pods
from bondlab.world.labstate import LabError
from bondlab.world.pods import dockerpod, image

TOPO = """
apiVersion: bondlab/v1
kind: BondLab
metadata: {name: t}
spec:
  pods: %s
  nodes: [{name: node1, pfs: [{name: ens1f0, vfs: 1}]}]
"""


def test_backend_choice_flag_then_topology_then_env(monkeypatch):
    monkeypatch.delenv("BONDLAB_PODS", raising=False)
    topo = deploy.prepare(yamlsrc.load_all(TOPO % "docker", "t.yaml")).topology
    assert topo.pods == "docker" and pods.choose(None, topo) == "docker"
    assert pods.choose("netns", topo) == "netns"
    monkeypatch.setenv("BONDLAB_PODS", "docker")
    assert pods.choose(None, None) == "docker"
    monkeypatch.setenv("BONDLAB_PODS", "lxc")
    with pytest.raises(LabError, match="pod backend 'lxc'"):
        pods.choose(None, None)


def test_topology_rejects_an_unknown_pod_backend():
    with pytest.raises(SourceError, match="spec.pods.*expected one of netns, docker"):
        deploy.prepare(yamlsrc.load_all(TOPO % "podman", "t.yaml"))


def test_pod_image_has_a_shell_sleep_and_ip_with_its_libraries():
    with tarfile.open(fileobj=io.BytesIO(image.image_tar())) as tar:
        names = set(tar.getnames())
    assert {"bin/busybox", "bin/sh", "bin/sleep", "bin/ping", "sbin/ip"} <= names
    assert any(n.endswith("/libc.so.6") for n in names) and any("libmnl" in n for n in names)
    assert image.image_tag() == image.image_tag()


def test_no_engine_installed_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(dockerpod.shutil, "which", lambda tool: None)
    with pytest.raises(dockerpod.EngineError, match=r"containerd, runc is not installed.*docker\.io"):
        dockerpod.DockerEngine(tmp_path / "run", tmp_path / "root").start()
