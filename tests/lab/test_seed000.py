"""Seed 000 (bond-cni README): two SR-IOV NADs on two PF pools, a bond NAD with linksInContainer, a pod.

node1                              fabric
pod: bond0 (host-local 10.56.217.x) core -- gw 10.56.217.1
       net1 = VF 0 of ens1f0 ====== [n0p0] --+
       net2 = VF 0 of ens2f0 ====== [n0p1] --+
"""

from __future__ import annotations

import json

import pytest

from bondlab import deploy
from bondlab.model import yamlsrc
from bondlab.world.labstate import LabError
from bondlab.world.netns import Netns
from tests.lab.conftest import SEEDS

pytestmark = pytest.mark.kernel


def test_seed_000_as_published_names_the_missing_nad_and_creates_nothing(lab_state, untouched):
    with pytest.raises(LabError) as error:
        deploy.prepare(yamlsrc.load_files([str(SEEDS / "000-sriov-bond.yaml")]))
    message = str(error.value)
    assert "pod default/test-pod" in message and "(bond-net)" in message and "bond-net1" in message
    assert "000-sriov-bond.yaml:" in message


@pytest.mark.parametrize("backend", ["veth", "netdevsim"])
def test_seed_000_corrected_deploys_bond_over_two_vfs(lab_state, untouched, backend):
    prepared = deploy.prepare(yamlsrc.load_files([str(SEEDS / "000-sriov-bond-fixed.yaml")]), backend=backend)
    state = deploy.deploy(prepared)
    try:
        pod = Netns(state.pod("test-pod").netns)
        links = {link["ifname"]: link for link in pod.ip_json("-d", "addr", "show")}
        assert links["net1"]["master"] == "bond0" and links["net2"]["master"] == "bond0"
        assert links["bond0"]["linkinfo"]["info_data"]["mode"] == "active-backup"
        (addr,) = [a for a in links["bond0"]["addr_info"] if a["family"] == "inet"]
        assert addr["local"].startswith("10.56.217.") and addr["prefixlen"] == 24
        assert pod.exec("ping", "-c", "1", "-W", "2", "10.56.217.1", check=False).returncode == 0
        text = pod.exec("ip", "a").stdout
        assert "net1" in text and "master bond0" in text
        # SR-IOV CNI's VF settings went through the PF: spoofchk off on both VFs.
        if backend == "netdevsim":
            pf = next(r for r in state.pfs if r.name == "ens1f0")
            vfs = Netns(pf.nodens).ip_json("link", "show", "dev", "ens1f0")[0]["vfinfo_list"]
            assert vfs[0]["spoofchk"] is False
    finally:
        assert deploy.destroy(state) == []
    assert json.dumps(state.undo) == "[]"
