"""spec.requires on a real kernel: the probe sees the bonding options the lab kernel has (a throwaway bond
in a throwaway netns), and a scenario needing what the kernel lacks is skipped with the reason, nothing
deployed."""

from __future__ import annotations

import pytest

from bondlab import capabilities
from bondlab.world.labstate import list_labs
from tests.lab.conftest import SEEDS
from tests.labfiles import run_file

pytestmark = pytest.mark.kernel

SCENARIO = f"""apiVersion: bondlab/v1
kind: Scenario
metadata: {{name: needs-more}}
spec:
  requires: {{kernel: "99.0", bondingOptions: [miimon, no_such_option]}}
  lab: {{files: [{SEEDS.parent / "two-pf-pod.yaml"}]}}
  traffic: {{flows: [{{from: test-pod, to: gw}}]}}
  steps:
    - cut: {{vf: test-pod/net1}}
"""


def test_the_probe_finds_the_options_of_the_lab_kernel():
    """The 5.15+ options, in sysfs (arp_missed_max) or netlink only (ns_ip6_target, coupled_control, a
    slave's prio): all in the lab's 6.12; and where a "no" looked."""
    caps = capabilities.probe()
    for option in (
        "miimon",
        "arp_missed_max",
        "ns_ip6_target",
        "lacp_active",
        "slave:queue_id",
        "slave:prio",
    ):
        assert caps.bonding_option(option), f"{option}: {caps.bonding_option(option).reason}"
    assert caps.bonding_option("no_such_option").reason == (
        f"kernel {caps.kernel} has no /sys/class/net/*/bonding/no_such_option nor a netlink attribute for it"
    )


def test_a_scenario_the_kernel_cannot_run_is_skipped_with_the_reason(tmp_path, lab_state, untouched):
    path = tmp_path / "needs-more.yaml"
    path.write_text(SCENARIO)
    got = run_file(path)
    release = capabilities.probe().kernel
    assert got.status == "skipped" and got.ok, got.message
    assert got.message == (
        f"{path}:5: needs kernel 99.0 or later: this is {release}; needs bonding option no_such_option: "
        f"kernel {release} has no /sys/class/net/*/bonding/no_such_option nor a netlink attribute for it"
    )
    assert got.steps == [] and got.fabric == [] and got.windows == []  # not even prepared
    assert list_labs() == [] and not lab_state.exists()
