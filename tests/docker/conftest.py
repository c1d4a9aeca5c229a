"""Docker pod backend fixtures: one lab engine per pytest session (started once per lab VM: a test file runs
in one VM), DOCKER_HOST pointing at it for testinfra's docker:// hosts, and checks that nothing of the lab's
(container, engine process, mount, directory) is left behind."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.lab.conftest import lab_state, untouched  # noqa: F401  (fixtures shared with the lab tests)


@pytest.fixture(scope="session")
def docker_engine():
    """(url, seconds to answer): the engine docker pods use; stopped at the end if this session started it."""
    from bondlab.world.pods import dockerpod

    engine = dockerpod.default_engine()
    saved = os.environ.get("DOCKER_HOST")
    began = time.monotonic()
    url, started = engine.ensure()
    seconds = time.monotonic() - began
    os.environ["DOCKER_HOST"] = url
    try:
        yield url, seconds
    finally:
        if saved is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = saved
        if started:
            engine.stop()
            assert_engine_gone(engine)


def lab_containers(url: str) -> list:
    from bondlab.world.pods import dockerpod

    api = dockerpod.client(url)
    try:
        return [c.name for c in dockerpod.lab_containers(api)]
    finally:
        api.close()


def assert_engine_gone(engine) -> None:
    """No process, mount or directory of this lab engine remains."""
    from bondlab.world.pods import dockerpod

    assert engine._engine_processes() == []
    roots = (str(engine.run_dir), str(engine.data_root))
    assert [m for m in dockerpod._mounts() if m.startswith(roots)] == []
    assert not Path(engine.run_dir).exists() and not Path(engine.data_root).exists()
    assert not Path("/run/containerd").exists() or Path("/run/containerd").is_dir()


@pytest.fixture
def own_engine(tmp_path, monkeypatch):
    """A second lab engine of this test's own (its own socket and dirs), which deploys must start and stop."""
    from bondlab.world.pods import dockerpod

    engine = dockerpod.DockerEngine(Path("/run") / f"bondlab-docker-t{os.getpid()}", tmp_path / "docker-root")
    monkeypatch.setattr(dockerpod, "default_engine", lambda: engine)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(dockerpod, "SYSTEM_SOCKET", str(tmp_path / "no-system-engine.sock"))
    yield engine
    engine.stop()
