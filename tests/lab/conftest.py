"""Real-kernel lab fixtures: deploy from YAML, and prove afterwards that nothing the lab owned remains and
the host's own links are as they were."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parents[2] / "scenarios" / "lib" / "seeds"


def host_links() -> list:
    out = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True, check=True).stdout
    links = json.loads(out)
    return sorted((link["ifname"], link.get("address"), tuple(link.get("flags", []))) for link in links)


@pytest.fixture
def untouched():
    """Yields; then asserts no owned netns/link is left and the current netns's links are unchanged."""
    from bondlab.world import clean

    before = host_links()
    yield
    assert clean.leftovers() == {"netns": [], "links": []}
    assert host_links() == before


@pytest.fixture
def lab_state(tmp_path, monkeypatch):
    """Each test keeps its lab records in its own state dir."""
    monkeypatch.setenv("BONDLAB_STATE", str(tmp_path / "state"))
    return tmp_path / "state"
