"""The plugin inside a conflist, run by the lab's libcni as a runtime runs a chain: loopback before the
bond (so the bond is not first and must keep what it does not own), Debian's tuning after it (sysctl, MAC
and MTU on the bond).  ADD hands each plugin the previous result, DEL runs in reverse, CHECK checks the
whole chain."""

from __future__ import annotations

import json
import sys

import pytest

from bondlab.cni import libcni

from .conftest import CNI_PATH, REPO, bond_conf, link, plugin_command, sh
from .test_kernel import two_pod_links

pytestmark = pytest.mark.kernel

MAC = "02:00:00:00:be:ef"


def chain(lab, tmp_path) -> tuple:
    """The conflist and the runtime that runs it (the plugin as `bond` in a CNI_PATH directory of its own)."""
    bin_dir = tmp_path / "cni-bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "bond"
    command = " ".join(f"'{arg}'" for arg in plugin_command())
    wrapper.write_text(f"#!/bin/sh\nexec {command}\n")
    wrapper.chmod(0o755)
    bond = {k: v for k, v in bond_conf(["net1", "net2"]).items() if k not in ("cniVersion", "name")}
    tuning = {
        "type": "tuning",
        "sysctl": {"net.ipv4.conf.bond0.arp_notify": "1"},
        "mac": MAC,
        "mtu": 1400,
        "dataDir": str(tmp_path / "tuning"),
    }
    conflist = {"cniVersion": "1.0.0", "name": "bondchain", "plugins": [{"type": "loopback"}, bond, tuning]}
    rt = libcni.Runtime(
        container_id=lab.container_id,
        netns=lab.pod_path,
        ifname="bond0",
        cni_path=[str(bin_dir), CNI_PATH],
        host_netns=lab.host,
        extra_env={
            "BONDCNI_STATE_DIR": str(lab.state_dir),
            "BONDCNI_SETTINGS": str(lab.settings_file),
            "PYTHONPATH": str(REPO / "plugin") + ":" + ":".join(p for p in sys.path if p),
        },
    )
    return conflist, rt


def test_bond_in_a_chain_add_check_del(lab, tmp_path):
    two_pod_links(lab)
    sh("ip", "-n", lab.pod, "link", "set", "lo", "down")  # as a new pod's: loopback's DEL sets it down
    before = lab.snapshot()
    conflist, rt = chain(lab, tmp_path)
    cache = str(tmp_path / "cache")
    result = libcni.add(conflist, rt, cache)
    names = [i["name"] for i in result["interfaces"]]
    assert names[0] == "lo" and names[1:] == ["bond0", "net1", "net2"], names
    assert {ip["address"] for ip in result["ips"]} >= {"127.0.0.1/8"}  # loopback's, kept by the bond
    bond0 = link(lab.pod, "bond0")
    assert (bond0["address"], bond0["mtu"]) == (MAC, 1400)
    assert result["interfaces"][1]["mac"] == MAC  # tuning updated the bond's entry
    assert (
        sh("ip", "netns", "exec", lab.pod, "sysctl", "-n", "net.ipv4.conf.bond0.arp_notify").stdout.strip()
        == "1"
    )
    libcni.check(conflist, rt, cache)  # every plugin of the chain, with the cached result
    sh("ip", "-n", lab.pod, "link", "set", "net2", "nomaster")  # the bond's own drift
    with pytest.raises(libcni.CniError) as caught:
        libcni.check(conflist, rt, cache)
    assert (caught.value.plugin, caught.value.code) == ("bond", 105)
    sh("ip", "-n", lab.pod, "link", "set", "net2", "down")
    sh("ip", "-n", lab.pod, "link", "set", "net2", "master", "bond0")
    libcni.check(conflist, rt, cache)
    sh("ip", "-n", lab.pod, "link", "set", "bond0", "mtu", "1300")  # tuning's drift
    with pytest.raises(libcni.CniError) as caught:
        libcni.check(conflist, rt, cache)
    assert caught.value.plugin == "tuning"
    libcni.delete(conflist, rt, cache)  # tuning first, then the bond, then loopback
    after = lab.snapshot()
    assert after == before, json.dumps({"before": before, "after": after})
