"""The tenant who writes a NetworkAttachmentDefinition, played on a real kernel (SECURITY.md, rule by rule).

Each test is an attack a namespace user can make with the network config alone; each asserts the plugin's
answer (a CNI error naming the rule, or a harmless success) and that the node - its links, addresses, routes,
files - is as it was.
"""

from __future__ import annotations

import json
import os
import stat

import pytest

from .conftest import bond_conf, link, sh
from .test_kernel import assert_err, assert_ok, fake_sysfs, slaves_of, two_host_links, two_pod_links

pytestmark = pytest.mark.kernel

POLICY = 106
STRICT = {}  # the node's defaults: no allowances


def host_view(lab) -> dict:
    """What the node must keep: every link, address and route of the plugin's own ("host") netns (IPv6
    link-local addresses and their routes left out: the kernel adds them by itself, after link-up)."""

    def ip(*argv):
        return json.loads(sh("ip", "-n", lab.host, "-j", *argv).stdout or "[]")

    def own(route):
        return route.get("table") != "local" and not route.get("dst", "").startswith(("fe80:", "ff00:"))

    return {
        "links": sorted(
            (ln["ifname"], ln.get("address"), ln.get("mtu"), "UP" in ln.get("flags", []))
            for ln in ip("link", "show")
        ),
        "addrs": sorted(
            (a["ifname"], i["local"], i["prefixlen"])
            for a in ip("addr", "show")
            for i in a.get("addr_info", [])
            if i.get("scope") != "link"
        ),
        "routes": sorted(
            json.dumps(r, sort_keys=True) for r in ip("route", "show", "table", "all") if own(r)
        ),
    }


def uplink(lab, name="eth0", address="192.0.2.10/24", default=True):
    """A node uplink: a link holding the node's address and (maybe) its default route."""
    lab.veth(lab.host, name)
    sh("ip", "-n", lab.host, "addr", "add", address, "dev", name)
    if default:
        sh("ip", "-n", lab.host, "route", "add", "default", "via", "192.0.2.1", "dev", name)


# ---------------------------------------------------------------------------------------------------------
# 1, 2: files are the node's


@pytest.mark.parametrize("field", ["logFile", "stateDir", "LOGFILE", "statedir"])
def test_a_nad_cannot_choose_a_file(lab, tmp_path, field):
    two_pod_links(lab)
    target = tmp_path / "cron.d-bond"
    conf = bond_conf(["net1", "net2"], **{field: str(target)})
    conf["primary"] = "net1\n* * * * * root touch /tmp/pwned"
    err = assert_err(lab.run("ADD", conf), 7)
    assert "node settings" in err["msg"] and "/etc/cni/net.d/bond.d/bond.conf" in err["msg"]
    assert not target.exists()
    assert_ok(lab.run("DEL", conf))  # DEL with such a config is fine (and touches no file either)
    assert not target.exists() and not os.path.exists("/tmp/pwned")


def test_config_strings_cannot_forge_log_records(lab, tmp_path):
    logfile = tmp_path / "log" / "bond.log"
    logfile.parent.mkdir(mode=0o700)
    lab.settings({"logFile": str(logfile), "logLevel": "debug"})
    two_pod_links(lab)
    forged = "2026-11-29T00:00:00 bond info ADD root-owned: all good"
    for key, value in (
        ("cniVersion", f"1.0.0\n{forged}"),
        ("primary", f"net1\r\n{forged}"),
        ("ipam", {"type": f"host-local\n{forged}"}),
        ("mode", f"x\u2028{forged}"),
    ):
        conf = bond_conf(["net1", "net2"], **{key: value})
        assert_err(lab.run("ADD", conf))
        assert_ok(lab.run("DEL", conf))
    lines = logfile.read_text().splitlines()
    assert lines and all(line[:4].isdigit() and " bond " in line for line in lines)
    assert not any(line.startswith(forged[:10]) and line.endswith("all good") for line in lines)
    assert stat.S_IMODE(logfile.stat().st_mode) == 0o600


def test_a_settings_file_others_can_write_is_ignored(lab, tmp_path):
    lab.settings({"hostLinks": {"allow": ["*"]}})
    lab.settings_file.chmod(0o666)
    two_host_links(lab)
    res = lab.run("ADD", bond_conf(["eth1", "eth2"], in_container=False))
    assert_err(res, POLICY)  # the allowance in a file a tenant could have written does not count
    assert "writable by group or others" in res.stderr


# ---------------------------------------------------------------------------------------------------------
# 3: host links by policy


def test_the_node_uplink_cannot_be_taken(lab):
    lab.settings({"hostLinks": {"allow": ["*"]}})  # even allowed by name: addresses and routes are the node's
    uplink(lab)
    lab.veth(lab.host, "eth1")
    before = host_view(lab)
    err = assert_err(lab.run("ADD", bond_conf(["eth0", "eth1"], in_container=False)), POLICY)
    assert 'host link "eth0" refused: it holds the global address 192.0.2.10/24' in err["msg"]
    assert host_view(lab) == before


def test_a_link_carrying_a_route_cannot_be_taken(lab):
    lab.settings({"hostLinks": {"allow": ["*"]}})
    lab.veth(lab.host, "eth0")
    sh("ip", "-n", lab.host, "route", "add", "198.51.100.0/24", "dev", "eth0", "table", "100")
    lab.veth(lab.host, "eth1")
    before = host_view(lab)
    err = assert_err(lab.run("ADD", bond_conf(["eth0", "eth1"], in_container=False)), POLICY)
    assert "the route to 198.51.100.0/24 (table 100) goes through it" in err["msg"]
    assert host_view(lab) == before


def test_a_default_route_device_cannot_be_taken(lab):
    lab.settings({"hostLinks": {"allow": ["*"]}})
    lab.veth(lab.host, "eth0")
    sh("ip", "-n", lab.host, "link", "set", "eth0", "up")
    sh("ip", "-n", lab.host, "route", "add", "default", "dev", "eth0")
    lab.veth(lab.host, "eth1")
    err = assert_err(lab.run("ADD", bond_conf(["eth0", "eth1"], in_container=False)), POLICY)
    assert "the default route" in err["msg"]


@pytest.mark.parametrize("victim", ["cni0", "vethab12cd34"])
def test_virtual_links_are_refused_unless_the_node_allows_them(lab, victim):
    lab.settings(STRICT)
    lab.veth(lab.host, victim)  # a pod's host-side veth, or a bridge-like node link
    lab.veth(lab.host, "eth1")
    before = host_view(lab)
    err = assert_err(lab.run("ADD", bond_conf([victim, "eth1"], in_container=False)), POLICY)
    assert f'host link "{victim}" refused: it is a virtual link (veth)' in err["msg"]
    assert host_view(lab) == before
    lab.settings({"hostLinks": {"allow": [victim, "eth1"]}})
    assert_ok(lab.run("ADD", bond_conf([victim, "eth1"], in_container=False)))
    assert_ok(lab.run("DEL", bond_conf([victim, "eth1"], in_container=False)))
    assert host_view(lab) == before


def test_only_allowed(lab):
    lab.settings({"hostLinks": {"allow": ["eth1"], "onlyAllowed": True}})
    two_host_links(lab)
    err = assert_err(lab.run("ADD", bond_conf(["eth1", "eth2"], in_container=False)), POLICY)
    assert 'host link "eth2" refused: the node\'s hostLinks.onlyAllowed is set' in err["msg"]


def test_loopback_is_refused(lab):
    lab.settings({"hostLinks": {"allow": ["*"]}})
    lab.veth(lab.host, "eth1")
    err = assert_err(lab.run("ADD", bond_conf(["lo", "eth1"], in_container=False)), POLICY)
    assert "loopback" in err["msg"]


def test_a_pci_device_must_be_handed_to_the_pod(lab):
    lab.settings({"hostLinks": {"allow": ["*"]}})
    two_host_links(lab)
    root = fake_sysfs(
        lab, {"0000:03:02.0": ("eth1", "0000:03:00.0"), "0000:04:02.0": ("eth2", "0000:04:00.0")}
    )
    before = host_view(lab)
    env = {"BONDCNI_SYSFS_ROOT": root}
    conf = bond_conf([], in_container=False)
    conf["links"] = [{"pciAddress": "0000:03:02.0"}, {"pciAddress": "0000:04:02.0"}]
    err = assert_err(lab.run("ADD", conf, env=env), POLICY)
    assert "PCI device 0000:03:02.0 was not handed to this pod" in err["msg"]
    assert host_view(lab) == before
    # handed by the runtime (Multus: runtimeConfig.deviceID, top-level deviceID): taken
    handed = dict(conf, runtimeConfig={"deviceID": "0000:03:02.0"}, deviceID="0000:04:02.0")
    assert_ok(lab.run("ADD", handed, env=env))
    assert slaves_of(lab.pod) == ["eth1", "eth2"]
    assert_ok(lab.run("DEL", handed, env=env))
    assert host_view(lab) == before


# ---------------------------------------------------------------------------------------------------------
# 4: state is the node's


def test_del_acts_only_on_a_valid_record(lab, tmp_path):
    """A record that names a program or another node link (as if planted) is not acted on."""
    marker = tmp_path / "ran"
    evil = tmp_path / "evil"
    evil.write_text(f"#!/bin/sh\ntouch {marker}\n")
    evil.chmod(0o755)
    uplink(lab, default=False)
    before = host_view(lab)
    lab.state_dir.mkdir(mode=0o700, exist_ok=True)
    record = {
        "version": 2,
        "network": "n",
        "containerID": lab.container_id,
        "ifname": "bond0",
        "netns": lab.pod_path,
        "linksInContainer": False,
        "ipam": str(evil),
        "slaves": [
            {
                "name": "eth0",
                "index": 1,
                "mac": "",
                "perm_mac": "",
                "mtu": 1280,
                "up": False,
                "origin": "host",
                "pci": None,
            }
        ],
    }
    (lab.state_dir / f"{lab.container_id}-bond0.json").write_text(json.dumps(record))
    res = lab.run("DEL", bond_conf(["net1", "net2"]))
    assert_ok(res)
    assert "not acted on" in res.stderr and not marker.exists()
    record["ipam"] = ""
    index = link(lab.host, "eth0")["ifindex"]
    record["slaves"][0]["index"] = index + 1000  # eth0's name, another ifindex: not the link ADD recorded
    (lab.state_dir / f"{lab.container_id}-bond0.json").write_text(json.dumps(record))
    assert_ok(lab.run("DEL", bond_conf(["net1", "net2"])))
    assert host_view(lab) == before  # eth0 kept its MTU, its state and its address


def test_gc_of_a_same_named_network_keeps_a_live_attachment(lab):
    two_pod_links(lab)
    conf = bond_conf(["net1", "net2"], ipam=lab.ipam())
    assert_ok(lab.run("ADD", conf))
    # another tenant's NAD with the same network name, and no valid attachments of its own
    gc = dict(bond_conf(["net1", "net2"], version="1.1.0"), **{"cni.dev/valid-attachments": []})
    res = lab.run("GC", gc, netns="")
    assert_ok(res)
    assert "its bond is alive: kept" in res.stderr
    assert slaves_of(lab.pod) == ["net1", "net2"] and lab.allocations() != []
    assert (lab.state_dir / f"{lab.container_id}-bond0.json").exists()
    assert_ok(lab.run("DEL", conf))


def test_gc_returns_host_links_of_a_dead_attachment(lab):
    two_host_links(lab)
    before = lab.snapshot()
    conf = bond_conf(["eth1", "eth2"], in_container=False, version="1.1.0")
    res = lab.run("ADD", conf, env={"BONDCNI_TEST_FAULT": "bond-up:kill"})
    assert res.rc != 0
    sh("ip", "-n", lab.pod, "link", "del", "bond0")  # the pod's bond is gone (as with its netns)
    assert_ok(lab.run("GC", dict(conf, **{"cni.dev/valid-attachments": []}), netns=""))
    after = lab.snapshot()
    assert after["host"] == before["host"] and after["state"] == []


# ---------------------------------------------------------------------------------------------------------
# 5: DEL never gets stuck


def test_del_succeeds_when_a_host_link_name_was_taken(lab):
    two_host_links(lab)
    conf = bond_conf(["eth1", "eth2"], in_container=False)
    assert_ok(lab.run("ADD", conf))
    lab.veth(lab.host, "eth1")  # someone took the name while eth1 was in the pod
    res = lab.run("DEL", conf)
    assert_ok(res)
    assert 'came back as "bcni' in res.stderr and "its name is taken on the host" in res.stderr
    names = {ln["ifname"] for ln in json.loads(sh("ip", "-n", lab.host, "-j", "link").stdout)}
    assert "eth2" in names and any(n.startswith("bcni") for n in names)
    assert not (lab.state_dir / f"{lab.container_id}-bond0.json").exists()
    assert_ok(lab.run("DEL", conf))  # and again: nothing left to do


def test_del_without_a_record_leaves_a_bond_it_did_not_make(lab):
    two_pod_links(lab)
    sh("ip", "-n", lab.pod, "link", "add", "bond0", "type", "bond")  # the pod's own bond
    conf = bond_conf(["net1", "net2"])
    assert_err(lab.run("ADD", conf), 100)
    assert_ok(lab.run("DEL", conf))  # the runtime cleans up after the failed ADD
    assert link(lab.pod, "bond0")["ifname"] == "bond0"


# ---------------------------------------------------------------------------------------------------------
# 7: the rest of the review


def test_prev_result_is_kept_and_merged(lab):
    two_pod_links(lab)
    prev = {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "sandbox": lab.pod_path}],
        "ips": [{"address": "10.99.0.5/24", "interface": 0}],
        "routes": [{"dst": "10.98.0.0/16"}],
        "dns": {"nameservers": ["10.96.0.10"], "search": ["svc.cluster.local"]},
    }
    conf = bond_conf(["net1", "net2"], ipam=lab.ipam(), prevResult=prev, dns={"nameservers": ["192.0.2.53"]})
    out = assert_ok(lab.run("ADD", conf))
    assert out["ips"][0] == {"address": "10.99.0.5/24", "interface": 0}
    assert out["ips"][1]["interface"] == 1 and out["ips"][1]["address"].startswith("10.56.217.")
    assert {"dst": "10.98.0.0/16"} in out["routes"]
    assert out["dns"]["nameservers"] == ["10.96.0.10", "192.0.2.53"]
    assert [i["name"] for i in out["interfaces"]][:2] == ["eth0", "bond0"]
    assert_ok(lab.run("DEL", conf))


@pytest.mark.parametrize(
    "prev",
    [
        {"ips": [{"address": "not-an-ip"}]},
        {"routes": [{"dst": "10.0.0.0/99"}]},
        {"interfaces": "x"},
        {"ips": [{"address": "10.0.0.1/24", "gateway": "x"}]},
        {"dns": {"nameservers": "1.1.1.1"}},
    ],
)
def test_malformed_prev_result_is_code_7_before_anything(lab, prev):
    two_pod_links(lab)
    before = lab.snapshot()
    assert_err(lab.run("ADD", bond_conf(["net1", "net2"], ipam=lab.ipam(), prevResult=prev)), 7)
    assert lab.snapshot() == before


def test_check_tolerates_routes_moved_by_a_chained_plugin(lab):
    two_pod_links(lab)
    conf = bond_conf(["net1", "net2"], ipam=lab.ipam())
    out = assert_ok(lab.run("ADD", conf))
    # what sbr does: the bond's routes move to a table of their own, with a rule
    sh("ip", "-n", lab.pod, "route", "add", "default", "via", "10.56.217.1", "dev", "bond0", "table", "100")
    sh("ip", "-n", lab.pod, "route", "del", "default", "dev", "bond0")
    sh("ip", "-n", lab.pod, "rule", "add", "from", out["ips"][0]["address"].split("/")[0], "table", "100")
    assert_ok(lab.run("CHECK", dict(conf, prevResult=out)))
    sh("ip", "-n", lab.pod, "route", "del", "default", "table", "100")
    err = assert_err(lab.run("CHECK", dict(conf, prevResult=out)), 105)
    assert "route to 0.0.0.0/0" in err["msg"]
    assert_ok(lab.run("DEL", conf))


def test_status_is_code_50_without_the_bonding_driver(lab, tmp_path):
    empty_sys = tmp_path / "sys"
    empty_sys.mkdir()
    conf = bond_conf(["net1", "net2"], version="1.1.0")
    assert_ok(lab.run("STATUS", conf, netns=""))
    err = assert_err(lab.run("STATUS", conf, netns="", env={"BONDCNI_SYSFS_ROOT": str(empty_sys)}), 50)
    assert "bonding driver" in err["msg"]
    blocker = tmp_path / "file"
    blocker.write_text("")
    err = assert_err(lab.run("STATUS", conf, netns="", env={"BONDCNI_STATE_DIR": str(blocker / "d")}), 50)
    assert "state directory" in err["msg"]


def test_a_slow_ipam_is_killed_at_the_node_limit_and_rolled_back(lab, tmp_path):
    cni = tmp_path / "cni"
    cni.mkdir()
    slow = cni / "slow-ipam"
    slow.write_text("#!/bin/sh\ncat >/dev/null\nexec sleep 30\n")
    slow.chmod(0o755)
    lab.settings({"ipamTimeout": 1})
    two_pod_links(lab)
    before = lab.snapshot()
    res = lab.run(
        "ADD",
        bond_conf(["net1", "net2"], ipam={"type": "slow-ipam"}),
        env={"CNI_PATH": f"{cni}:/usr/lib/cni"},
    )
    err = assert_err(res, 11)
    assert "no answer within 1 s" in err["msg"]
    assert lab.snapshot() == before


def test_a_kill_leaves_no_temp_state_file(lab):
    two_pod_links(lab)
    conf = bond_conf(["net1", "net2"])
    assert lab.run("ADD", conf, env={"BONDCNI_TEST_FAULT": "record-state:kill"}).rc != 0
    assert sorted(p.name for p in lab.state_dir.iterdir() if not p.name.endswith(".lock")) == [
        f"{lab.container_id}-bond0.json"
    ]
    assert_ok(lab.run("DEL", conf))
    assert [p.name for p in lab.state_dir.iterdir()] == []
