"""The connection check with bandwidth on a real kernel, under VF rate limits as SR-IOV NADs set them: 2 nodes
x 2 pods (scenarios/lib/two-nodes-rate-limited.yaml: an active-backup and a balance-xor bond on each node, a
host-local range per bond NAD), every VF limited to RATE Mbps at its switch port. An active-backup bond sends
on one slave, so about RATE; a balance-xor bond with xmitHashPolicy layer3+4 spreads several TCP streams over
both, so about 2 x RATE.

RATE is far below what the lab VM moves over its veths unshaped (measured here too, on the same pair with
the limit taken off), so the limit, not the VM, decides the figures. A rate above the VF's link fails the
pod's ADD with a CNI error naming the field, and nothing is left behind."""

from __future__ import annotations

import statistics

import pytest

from bondlab import concheck, deploy
from bondlab.cni import multus
from bondlab.model import yamlsrc
from bondlab.util.paths import REPO
from bondlab.world import inspection, switch, vf
from bondlab.world.labstate import LabError, list_labs
from bondlab.world.netns import Netns, run

pytestmark = pytest.mark.kernel

RATE = 50  # Mbps per VF, as LAB's SR-IOV NADs set it
STREAMS = 8  # iperf3 -P: enough that layer3+4 puts streams on both slaves (2/256 that all land on one)

LAB = REPO / "scenarios" / "lib" / "two-nodes-rate-limited.yaml"


def _lab(rate: int):
    text = LAB.read_text().replace('"max_tx_rate": 50', f'"max_tx_rate": {rate}')
    return deploy.prepare(yamlsrc.load_all(text, str(LAB)))


def _mbps(pairs: list) -> list:
    return [probe.bits_per_second / 1e6 for pair in pairs for probe in pair.probes if probe.bits_per_second]


def test_balance_xor_carries_about_twice_active_backup_under_vf_rate_limits(lab_state, untouched):
    state = deploy.deploy(_lab(RATE))
    try:
        assert f"max {RATE}" in inspection.render(state) and "TX RATE" in inspection.render(state)
        found = dict(concheck.check(state, bandwidth=False))
        assert all(p.connected for pairs in found.values() for pair in pairs for p in pair.probes), (
            concheck.render(concheck.to_json(list(found.items())))
        )
        # bandwidth between the pods (peers too in `bondlab concheck`; here the pods are the point)
        pods = [pair for pair in found["10.56.217.0/24"] if pair.destination.pod]
        concheck.measure_all(pods, duration=2, streams=STREAMS)
        print("\n" + concheck.render(concheck.to_json([("10.56.217.0/24", pods)])))
        # what a bond sends, to active-backup pods: a balance-xor bond's MAC is heard from both ToRs (no MLAG
        # pairs them), so the fabric's tables flap and a transfer *to* it may lose most of its frames
        to_ab = [pair for pair in pods if pair.destination.name.startswith("ab-")]
        ab = _mbps([pair for pair in to_ab if pair.source.name.startswith("ab-")])
        xor = _mbps([pair for pair in to_ab if pair.source.name.startswith("xor-")])
        ratio = statistics.mean(xor) / statistics.mean(ab)
        print(
            f"to active-backup pods: active-backup sends {ab} Mbps, balance-xor {xor} Mbps, ratio {ratio:.2f}"
        )
        assert (len(ab), len(xor)) == (2, 4)
        assert 0.6 * RATE < statistics.mean(ab) < 1.1 * RATE  # one slave's limit
        assert 1.6 < ratio < 2.3  # two slaves' limits

        # the same pair with the limit taken off its sender's VFs: what the lab VM's veths move unshaped
        sender = state.pod("ab-node1")
        fabric = Netns(state.netns_name("fabric"))
        for cable in sender.cables:
            record = state.pf(*cable.pf.split("/"))
            vf.configure_vf(
                state, record, cable.vf, {"max_tx_rate": 0}, before=vf.vf_config(state, record, cable.vf)
            )
            assert (
                fabric.ip("link", "show", "dev", switch.shaper_name(cable.port), check=False).returncode != 0
            )
        again = [
            pair for pair in pods if pair.source.name == "ab-node1" and pair.destination.name == "ab-node2"
        ]
        for probe in again[0].probes:
            probe.bits_per_second = None
        concheck.measure_all(again, duration=2, streams=STREAMS)
        (unshaped,) = _mbps(again)
        print(f"unshaped (no max_tx_rate) ab-node1 -> ab-node2: {unshaped:.0f} Mbps")
        assert unshaped > 3 * RATE
    finally:
        assert deploy.destroy(state) == []


def test_a_rate_above_the_link_fails_the_pod_naming_the_field(lab_state, untouched):
    with pytest.raises(LabError) as error:
        deploy.deploy(_lab(vf.LINK_MBPS + 1))
    message = str(error.value)
    assert "network default/sriov-net1 (interface net1): sriov ADD failed" in message
    assert (
        f'"max_tx_rate" {vf.LINK_MBPS + 1} Mbps is above the VF\'s link speed ({vf.LINK_MBPS} Mbps)'
        in message
    )
    assert list_labs() == []


BOND = """\
---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: bond-net}
spec:
  config: '{"type": "bond", "cniVersion": "0.3.1", "name": "bond-net", "mode": "active-backup",
    "failOverMac": 1, "linksInContainer": true, "miimon": "100",
    "links": [{"name": "net1"}, {"name": "net2"}],
    "ipam": {"type": "host-local", "subnet": "10.56.217.0/24", "gateway": "10.56.217.1"}}'
"""


@pytest.mark.parametrize("backend", ["veth", "netdevsim"])
def test_a_rate_with_spoofchk_is_set_through_the_pf_and_del_hands_the_vf_back_clean(
    lab_state, untouched, backend
):
    """Both at the switch port at once (spoofchk's filter lets the VF's frames in to the shaper), set the way
    SR-IOV CNI sets them (netdevsim: `ip link set PF vf N max_tx_rate M min_tx_rate m`, read back from the
    PF), and DEL restores the VF: no rate, no spoofchk filter, no shaper - only the port's own filter that
    carries slow-protocol frames to the PF's cable (world.switch.port_ingress_lines)."""
    text = (REPO / "scenarios" / "lib" / "two-pf-pod.yaml").read_text() + BOND
    text = text.replace('"spoofchk": "off"', '"spoofchk": "on", "max_tx_rate": 100, "min_tx_rate": 10')
    state = deploy.deploy(deploy.prepare(yamlsrc.load_all(text, "rate.yaml"), backend=backend))
    try:
        pod = state.pod("test-pod")
        fabric = Netns(state.netns_name("fabric"))
        ports = []
        for cable in pod.cables:
            record = state.pf(*cable.pf.split("/"))
            settings = vf.vf_config(state, record, cable.vf)
            assert (settings["max_tx_rate"], settings["min_tx_rate"], settings["spoofchk"]) == (100, 10, True)
            shown = run(["tc", "-n", fabric.name, "filter", "show", "dev", cable.port, "ingress"]).stdout
            assert "src_mac" in shown and f"Redirect to device {switch.shaper_name(cable.port)}" in shown
            ports.append((record, cable))
        assert "max 100 min 10" in inspection.render(state)
        ping = Netns(pod.netns).exec("ping", "-c", "3", "-i", "0.2", "-W", "2", "10.56.217.1", check=False)
        assert ping.returncode == 0, ping.stdout  # the VF's own frames pass spoofchk and the shaper
        multus._del_delegates(state, pod)  # the pod's CNI DELs; the world stays
        for record, cable in ports:
            settings = vf.vf_config(state, record, cable.vf)
            assert (settings["max_tx_rate"], settings["min_tx_rate"], settings["spoofchk"]) == (0, 0, False)
            left = run(["tc", "-n", fabric.name, "filter", "show", "dev", cable.port, "ingress"]).stdout
            assert "src_mac" not in left and "Redirect to device" in left and "pref 2" not in left
            assert "dst_mac 01:80:c2:00:00:02" in left  # the slow-protocol carry only
            assert (
                fabric.ip("link", "show", "dev", switch.shaper_name(cable.port), check=False).returncode != 0
            )
    finally:
        assert deploy.destroy(state) == []
