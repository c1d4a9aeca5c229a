"""The docker pod backend on a real kernel: seed 000 with pods as containers (`ip a` inside the container
shows the bond, testinfra's docker:// host sees it), an active-backup failover, and nothing left behind
(no lab container, engine process, mount or image layer directory), also after a failed deploy; an engine
that cannot start is one clear error naming the cause."""

from __future__ import annotations

import pytest

from bondlab import deploy
from bondlab.bench import lab as labbench
from bondlab.model import yamlsrc
from bondlab.pytest import infra
from bondlab.util.wait import until
from bondlab.world import build, clean
from bondlab.world.labstate import LabError, list_labs
from bondlab.world.netns import Netns
from bondlab.world.pods import dockerpod
from tests.docker.conftest import assert_engine_gone, lab_containers
from tests.lab.conftest import SEEDS

pytestmark = pytest.mark.kernel
SEED = str(SEEDS / "000-sriov-bond-fixed.yaml")


def test_seed_000_with_docker_pods_shows_the_bond_inside_the_container(docker_engine, lab_state, untouched):
    url, _ = docker_engine
    state = deploy.deploy(deploy.prepare(yamlsrc.load_files([SEED])), pods_backend="docker")
    try:
        pod = state.pod("test-pod")
        assert pod.netns_path.startswith("/proc/") and pod.container in lab_containers(url)
        api = dockerpod.client(url)
        try:
            code, out = api.containers.get(pod.container).exec_run(["ip", "a"])
        finally:
            api.close()
        text = out.decode()
        assert code == 0, text
        assert "net1" in text and "net2" in text and text.count("master bond0") == 2
        assert "inet 10.56.217." in text
        host = infra.container(pod, url)  # testinfra: docker://NAME
        assert host.interface("bond0").exists and host.interface("net2").exists
        assert any(a.startswith("10.56.217.") for a in host.interface("bond0").addresses)
        assert host.file("/sys/class/net/bond0/bonding/mode").content_string.startswith("active-backup")
        assert host.run("ping -c 1 -W 2 10.56.217.1").rc == 0
    finally:
        assert deploy.destroy(state) == []
    assert lab_containers(url) == [] and list_labs() == []


def test_active_backup_fails_over_in_a_docker_pod(docker_engine, lab_state, untouched):
    url, _ = docker_engine
    state = deploy.deploy(deploy.prepare(yamlsrc.load_files([SEED])), pods_backend="docker")
    try:
        pod = state.pod("test-pod")
        ns = Netns(pod.netns)

        def active():
            return ns.link("bond0")["linkinfo"]["info_data"].get("active_slave")

        assert active() == "net1"
        build.cut_pf(state, "node1", "ens1f0")
        until(lambda: active() == "net2", 5, "bond0 fails over to net2")
        host = infra.container(pod, url)
        assert host.run("ping -c 1 -W 2 10.56.217.1").rc == 0
        build.cut_pf(state, "node1", "ens1f0", restore=True)
        carrier = "cat /sys/class/net/net1/carrier"
        until(lambda: host.run(carrier).stdout.strip() == "1", 5, "net1 carrier back")
    finally:
        assert deploy.destroy(state) == []
    assert lab_containers(url) == []


def failing_plugin(tmp_path) -> str:
    failing = tmp_path / "bond"
    failing.write_text(
        '#!/bin/sh\nif [ "$CNI_COMMAND" = ADD ]; then\n'
        '  echo \'{"cniVersion": "0.3.1", "code": 11, "msg": "injected failure"}\'; exit 1\nfi\nexit 0\n'
    )
    failing.chmod(0o755)
    return str(failing)


def test_failed_deploy_leaves_no_container(docker_engine, lab_state, untouched, tmp_path):
    url, _ = docker_engine
    prepared = deploy.prepare(yamlsrc.load_all(labbench.manifest(2), "t.yaml"))
    with pytest.raises(LabError, match="injected failure"):
        deploy.deploy(prepared, plugin=failing_plugin(tmp_path), pods_backend="docker")
    assert lab_containers(url) == [] and list_labs() == []


def test_a_lab_started_engine_is_stopped_with_the_lab_and_leaves_nothing(
    own_engine, lab_state, untouched, tmp_path
):
    """A deploy that had to start the engine stops it on destroy: no container, process, mount or dir."""
    prepared = deploy.prepare(yamlsrc.load_all(labbench.manifest(2), "t.yaml"))
    state = deploy.deploy(prepared, pods_backend="docker")
    assert state.docker.started_engine and own_engine.owned()
    assert len(own_engine._engine_processes()) >= 2  # dockerd, containerd (+ shims)
    assert deploy.destroy(state) == []
    assert_engine_gone(own_engine)
    # ... and after a failed deploy too
    with pytest.raises(LabError, match="injected failure"):
        deploy.deploy(prepared, plugin=failing_plugin(tmp_path), pods_backend="docker")
    assert_engine_gone(own_engine)
    assert clean.leftovers() == {"netns": [], "links": []}


def test_an_engine_that_cannot_start_is_one_clear_error(own_engine, lab_state, untouched, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    own_engine.data_root = blocker / "docker-root"  # dockerd cannot make its data root under a file
    prepared = deploy.prepare(yamlsrc.load_all(labbench.manifest(1), "t.yaml"))
    with pytest.raises(dockerpod.EngineError) as error:
        deploy.deploy(prepared, pods_backend="docker")
    message = str(error.value)
    assert message.startswith("the docker engine cannot start: dockerd exited with code 1")
    assert "not a directory" in message, message
    assert "\n" not in message
    assert own_engine._engine_processes() == [] and not own_engine.run_dir.exists()
    assert list_labs() == []
