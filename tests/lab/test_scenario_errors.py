"""Scenario bad input on a real kernel: each is one clear error (file, line, the name), the lab is torn down
and nothing owned is left - an unknown link in an expectation, traffic that cannot start, a plugin that
fails at ADD, a malformed file."""

from __future__ import annotations

import pytest

from bondlab.world.labstate import list_labs
from tests.lab.conftest import SEEDS
from tests.labfiles import SMALL_LAB, run_file

pytestmark = pytest.mark.kernel

LIB = SEEDS.parent / "two-pf-pod.yaml"

HEAD = f"""apiVersion: bondlab/v1
kind: Scenario
metadata: {{name: bad}}
spec:
  lab: {{files: [{LIB}]}}
"""

BOND_NAD = """---
apiVersion: "k8s.cni.cncf.io/v1"
kind: NetworkAttachmentDefinition
metadata: {{name: bond-net}}
spec:
  config: '{{"type": "bond", "cniVersion": "0.3.1", "name": "bond-net", "linksInContainer": true,
    "links": [{{"name": "net1"}}, {{"name": "net2"}}], "mode": "active-backup", "miimon": "100"{ipam}}}'
"""
IPAM = ', "ipam": {"type": "host-local", "subnet": "10.56.217.0/24", "gateway": "10.56.217.1"}'


def run(tmp_path, body: str, ipam: str = IPAM):
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD + body + BOND_NAD.format(ipam=ipam))
    return str(path), run_file(path)


def test_an_expectation_naming_an_unknown_link_is_an_error_at_its_line(tmp_path, lab_state, untouched):
    path, got = run(tmp_path, "  steps:\n    - expect: {mii: {link: test-pod/net9, status: up}}\n")
    assert got.status == "error" and got.message.startswith(f"{path}:7:")
    assert "pod test-pod has no link 'net9'" in got.message and "net1" in got.message
    assert list_labs() == []


TOPOLOGY = "---" + SMALL_LAB + "  peers:\n    - {name: gw, switch: core, addresses: [10.9.0.1/24]}\n"


def test_traffic_that_cannot_start_is_one_error_and_the_lab_goes(tmp_path, lab_state, untouched):
    """The bond has no IPAM, so no address for the peer's probes to go to."""
    body = "  traffic: {flows: [{from: gw, to: test-pod}]}\n  steps:\n    - wait: 100ms\n" + TOPOLOGY
    _, got = run(tmp_path, body, ipam=', "ipam": {}')
    assert got.status == "error" and "traffic cannot start" in got.message, got.message
    assert list_labs() == []


def test_a_plugin_failing_at_add_is_one_error_naming_pod_and_network(tmp_path, lab_state, untouched):
    _, got = run(tmp_path, "  steps:\n    - wait: 100ms\n", ipam=', "ipam": {"type": "no-such-ipam"}')
    assert got.status == "error" and "pod default/test-pod: network default/bond-net" in got.message
    assert "no-such-ipam" in got.message and got.message.count("\n") < 3
    assert list_labs() == []


def test_a_malformed_file_is_an_error_before_anything_is_made(tmp_path, lab_state, untouched):
    path, got = run(tmp_path, "  steps:\n    - cut: {vf: test-pod/net1, twice: true}\n")
    assert got.status == "error" and got.message.startswith(f"{path}:7:") and "twice" in got.message
    assert list_labs() == []
