"""The plugin on a real kernel: exec'd with real env and stdin, host-local IPAM from /usr/lib/cni.

Every ADD that fails must leave the node exactly as it was (links' names, MACs, MTUs, admin state, masters,
the netns list, state files, IPAM allocations); every DEL must bring it back to that state.
"""

from __future__ import annotations

import ipaddress
import json
import os

import pytest

from bondcni.add import ADD_STEPS

from ..unit import seeds
from .conftest import bond_conf, link, links, sh

pytestmark = pytest.mark.kernel

MODES = ["balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"]


def info_data(ns: str, name: str = "bond0") -> dict:
    return link(ns, name).get("linkinfo", {}).get("info_data", {})


def slaves_of(ns: str, bond: str = "bond0") -> list:
    return sorted(ln["ifname"] for ln in links(ns) if ln.get("master") == bond)


def addrs(ns: str, name: str = "bond0") -> list:
    out = json.loads(sh("ip", "-n", ns, "-j", "addr", "show", "dev", name).stdout)
    return [f"{a['local']}/{a['prefixlen']}" for a in out[0]["addr_info"] if a["family"] == "inet"]


def default_route(ns: str) -> list:
    return json.loads(sh("ip", "-n", ns, "-j", "route", "show", "default").stdout or "[]")


def two_pod_links(lab, **kw):
    lab.veth(lab.pod, "net1", **kw)
    lab.veth(lab.pod, "net2", **kw)


def two_host_links(lab):
    lab.veth(lab.host, "eth1", mtu=1400, mac="02:aa:00:00:00:01", up=True)
    lab.veth(lab.host, "eth2", mac="02:aa:00:00:00:02", up=False)


def assert_ok(res):
    assert res.rc == 0, res
    return res.json


def assert_err(res, code=None):
    assert res.rc == 1, res
    assert res.json is not None and "Traceback" not in res.stdout, res
    if code is not None:
        assert res.json["code"] == code, res
    return res.json


# ---------------------------------------------------------------------------------------------------------
# ADD / CHECK / DEL per mode


@pytest.mark.parametrize("mode", MODES)
def test_mode_add_check_del(lab, mode):
    two_pod_links(lab)
    before = lab.snapshot()
    conf = bond_conf(["net1", "net2"], mode=mode, ipam=lab.ipam())
    out = assert_ok(lab.run("ADD", conf))
    assert [i["name"] for i in out["interfaces"]] == ["bond0", "net1", "net2"]
    assert all(i["sandbox"] == lab.pod_path for i in out["interfaces"])
    assert out["ips"][0]["interface"] == 0 and out["ips"][0]["gateway"] == "10.56.217.1"
    assert info_data(lab.pod)["mode"] == mode
    assert info_data(lab.pod)["miimon"] == 100
    assert slaves_of(lab.pod) == ["net1", "net2"]
    assert "UP" in link(lab.pod, "bond0")["flags"]
    assert addrs(lab.pod) == [out["ips"][0]["address"]]
    assert default_route(lab.pod)[0]["dev"] == "bond0"
    assert len(lab.allocations()) == 1

    assert_ok(lab.run("CHECK", dict(conf, prevResult=out)))

    assert_ok(lab.run("DEL", dict(conf, prevResult=out)))
    assert lab.snapshot() == before
    assert_ok(lab.run("DEL", conf))  # twice
    assert lab.snapshot() == before


@pytest.mark.parametrize("fom,name", [(0, "none"), (1, "active"), ("follow", "follow")])
def test_fail_over_mac(lab, fom, name):
    lab.veth(lab.pod, "net1", mac="02:00:00:00:01:01")
    lab.veth(lab.pod, "net2", mac="02:00:00:00:01:02")
    before = lab.snapshot()
    conf = bond_conf(["net1", "net2"], failOverMac=fom)
    out = assert_ok(lab.run("ADD", conf))
    assert info_data(lab.pod)["fail_over_mac"] == name
    bond_mac = link(lab.pod, "bond0")["address"]
    net1, net2 = link(lab.pod, "net1")["address"], link(lab.pod, "net2")["address"]
    assert bond_mac == "02:00:00:00:01:01"  # the first slave's MAC in every case
    if name == "none":
        assert net1 == net2 == bond_mac  # active-backup, fail_over_mac none: all slaves take the bond's MAC
    else:
        assert (net1, net2) == ("02:00:00:00:01:01", "02:00:00:00:01:02")
    assert out["interfaces"][0]["mac"] == bond_mac
    assert_ok(lab.run("DEL", conf))
    assert lab.snapshot() == before


def test_host_links_move_in_and_back(lab):
    two_host_links(lab)
    before = lab.snapshot()
    conf = bond_conf(["eth1", "eth2"], in_container=False, ipam=lab.ipam())
    out = assert_ok(lab.run("ADD", conf))
    assert slaves_of(lab.pod) == ["eth1", "eth2"]
    assert not link(lab.host, "eth1") and not link(lab.host, "eth2")
    assert link(lab.pod, "bond0")["mtu"] == 1400  # mtu unset: min(1500, slaves)
    record = json.loads((lab.state_dir / f"{lab.container_id}-bond0.json").read_text())
    assert [(s["name"], s["mtu"], s["up"], s["origin"]) for s in record["slaves"]] == [
        ("eth1", 1400, True, "host"),
        ("eth2", 1500, False, "host"),
    ]
    assert_ok(lab.run("CHECK", dict(conf, prevResult=out)))
    assert_ok(lab.run("DEL", conf))
    assert lab.snapshot() == before


def test_mtu_set_on_bond_and_slaves_restored(lab):
    two_pod_links(lab, mtu=9000)
    before = lab.snapshot()
    conf = bond_conf(["net1", "net2"], mtu=1300)
    assert_ok(lab.run("ADD", conf))
    assert link(lab.pod, "bond0")["mtu"] == 1300
    assert link(lab.pod, "net1")["mtu"] == 1300
    assert_ok(lab.run("DEL", conf))
    assert lab.snapshot() == before


OPTION_CASES = [
    (
        "active-backup",
        dict(
            updelay=200,
            downdelay=300,
            peerNotifyDelay=100,
            numGratArp=3,
            primary="net2",
            primaryReselect="better",
            allSlavesActive=1,
            failOverMac="active",
        ),
        dict(
            updelay=200,
            downdelay=300,
            peer_notify_delay=100,
            num_peer_notif=3,
            primary="net2",
            primary_reselect="better",
            all_slaves_active=1,
            fail_over_mac="active",
        ),
    ),
    (
        "active-backup",
        dict(
            miimon=None,
            arpInterval=250,
            arpIpTarget=["192.0.2.1", "192.0.2.2"],
            arpValidate="filter_backup",
            arpAllTargets="all",
        ),
        dict(
            arp_interval=250,
            arp_ip_target=["192.0.2.1", "192.0.2.2"],
            arp_validate="filter_backup",
            arp_all_targets="all",
        ),
    ),
    (
        "802.3ad",
        dict(lacpRate="fast", adSelect="bandwidth", minLinks=1, xmitHashPolicy="layer3+4"),
        dict(ad_lacp_rate="fast", ad_select="bandwidth", min_links=1, xmit_hash_policy="layer3+4"),
    ),
    ("balance-tlb", dict(tlbDynamicLb=0, xmitHashPolicy="layer2+3"), dict(tlb_dynamic_lb=0)),
    ("balance-xor", dict(xmitHashPolicy="encap3+4"), dict(xmit_hash_policy="encap3+4")),
]


@pytest.mark.parametrize(
    "mode,extra,want", OPTION_CASES, ids=[c[0] + "-" + "-".join(c[1]) for c in OPTION_CASES]
)
def test_options_reach_the_kernel(lab, mode, extra, want):
    two_pod_links(lab)
    before = lab.snapshot()
    conf = bond_conf(["net1", "net2"], mode=mode, **{k: v for k, v in extra.items() if v is not None})
    if extra.get("miimon", 1) is None:
        del conf["miimon"]
    assert_ok(lab.run("ADD", conf))
    data = info_data(lab.pod)
    for key, value in want.items():
        assert data.get(key) == value, (key, data)
    assert_ok(lab.run("DEL", conf))
    assert lab.snapshot() == before


def test_duplicate_macs_in_alb_get_distinct_local_macs_and_are_restored(lab):
    lab.veth(lab.pod, "net1", mac="02:00:00:00:00:07")
    lab.veth(lab.pod, "net2", mac="02:00:00:00:00:07")
    before = lab.snapshot()
    conf = bond_conf(["net1", "net2"], mode="balance-alb")
    assert_ok(lab.run("ADD", conf))
    macs = {link(lab.pod, n)["address"] for n in ("net1", "net2")}
    assert len(macs) == 2
    for mac in macs:
        first = int(mac.split(":")[0], 16)
        assert first & 0x02 and not first & 0x01 and not mac.startswith("30:32:3a")
    assert_ok(lab.run("DEL", conf))
    assert lab.snapshot() == before


# ---------------------------------------------------------------------------------------------------------
# versions, chaining, GC, STATUS


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1", "0.4.0", "1.0.0"])
def test_result_versions_with_host_local(lab, version):
    two_pod_links(lab)
    conf = bond_conf(["net1", "net2"], ipam=lab.ipam(), version=version)
    out = assert_ok(lab.run("ADD", conf))
    assert out["cniVersion"] == version
    if version.startswith("0."):
        assert out["ips"][0]["version"] == "4"
    else:
        assert "version" not in out["ips"][0]
    assert_ok(lab.run("DEL", conf))


def test_1_1_0_gc_status_and_chaining(lab):
    two_pod_links(lab)
    lab.veth(lab.pod, "net3")
    lab.veth(lab.pod, "net4")
    prev = {
        "cniVersion": "1.1.0",
        "interfaces": [{"name": "eth0", "sandbox": lab.pod_path}],
        "ips": [{"address": "192.0.2.10/24", "interface": 0}],
    }
    conf = bond_conf(["net1", "net2"], version="1.1.0", prevResult=prev)
    out = assert_ok(lab.run("ADD", conf))
    assert [i["name"] for i in out["interfaces"]] == ["eth0", "bond0", "net1", "net2"]
    assert out["ips"] == prev["ips"] and out["interfaces"][1]["mtu"] == 1500
    other = bond_conf(["net3", "net4"], version="1.1.0")
    assert_ok(lab.run("ADD", other, ifname="bond1", container_id="ctr-other"))
    assert len(list(lab.state_dir.glob("*.json"))) == 2
    assert_ok(lab.run("STATUS", conf))
    gc = dict(conf, **{"cni.dev/valid-attachments": [{"containerID": lab.container_id, "ifname": "bond0"}]})
    res = lab.run("GC", gc)
    assert_ok(res)  # ctr-other is not listed, but its bond is alive in its netns: kept (SECURITY.md, rule 4)
    assert "ctr-other/bond1 is not listed as valid, but its bond is alive: kept" in res.stderr
    assert len(list(lab.state_dir.glob("*.json"))) == 2
    sh("ip", "-n", lab.pod, "link", "del", "bond1")  # now it is dead: GC puts its links back, drops it
    assert_ok(lab.run("GC", gc))
    assert sorted(p.name for p in lab.state_dir.glob("*.json")) == [f"{lab.container_id}-bond0.json"]
    assert_ok(lab.run("DEL", conf))
    assert_ok(lab.run("DEL", other, ifname="bond1", container_id="ctr-other"))


def test_seed_000_readme_example(lab):
    """The upstream README's NAD config, verbatim but for the IPAM data dir."""
    two_pod_links(lab)
    before = lab.snapshot()
    conf = dict(seeds.README_EXAMPLE, ipam=dict(seeds.README_EXAMPLE["ipam"], dataDir=str(lab.ipam_dir)))
    out = assert_ok(lab.run("ADD", conf))
    assert out["ips"][0]["version"] == "4" and out["ips"][0]["address"].startswith("10.56.217.")
    assert info_data(lab.pod)["fail_over_mac"] == "active"
    assert_ok(lab.run("DEL", conf))
    assert lab.snapshot() == before


def test_seed_002_lacp_example(lab):
    """Seed 002's 802.3ad NAD (its empty static address filled in)."""
    two_pod_links(lab)
    before = lab.snapshot()
    conf = dict(seeds.SEED_002_LACP, ipam={"type": "static", "addresses": [{"address": "192.0.2.20/24"}]})
    out = assert_ok(lab.run("ADD", conf))
    assert info_data(lab.pod)["mode"] == "802.3ad" and addrs(lab.pod) == ["192.0.2.20/24"]
    assert out["ips"][0]["address"] == "192.0.2.20/24"
    assert_ok(lab.run("DEL", conf))
    assert lab.snapshot() == before


# ---------------------------------------------------------------------------------------------------------
# errors and rollback


def test_missing_host_link_rolls_back(lab):
    lab.veth(lab.host, "eth1", mtu=1400)
    before = lab.snapshot()
    err = assert_err(lab.run("ADD", bond_conf(["eth1", "eth9"], in_container=False, ipam=lab.ipam())), 100)
    assert 'links[1]: link "eth9" not found in the host netns' == err["msg"]
    assert lab.snapshot() == before


def test_mtu_bigger_than_a_slave_rolls_back(lab):
    two_pod_links(lab)
    before = lab.snapshot()
    err = assert_err(lab.run("ADD", bond_conf(["net1", "net2"], mtu=9000)), 7)
    assert "got 9000 but links[0] (net1) has MTU 1500" in err["msg"]
    assert lab.snapshot() == before


def test_ifname_already_present(lab):
    two_pod_links(lab)
    lab.veth(lab.pod, "bond0")
    before = lab.snapshot()
    err = assert_err(lab.run("ADD", bond_conf(["net1", "net2"])), 100)
    assert err["msg"] == f'interface "bond0" already exists in netns {lab.pod_path}'
    assert lab.snapshot() == before


def test_netns_missing(lab):
    two_host_links(lab)
    before = lab.snapshot()
    err = assert_err(
        lab.run("ADD", bond_conf(["eth1", "eth2"], in_container=False), netns="/var/run/netns/nope")
    )
    assert err["code"] == 8 and "/var/run/netns/nope" in err["msg"]
    assert lab.snapshot() == before


def test_ipam_failure_rolls_back_host_links(lab):
    two_host_links(lab)
    before = lab.snapshot()
    bad = lab.ipam(subnet="10.9.0.0/24", gateway="10.8.0.1", rangeStart="10.9.0.300")
    assert_err(lab.run("ADD", bond_conf(["eth1", "eth2"], in_container=False, ipam=bad)))
    assert lab.snapshot() == before


def test_ipam_plugin_not_in_cni_path(lab):
    two_host_links(lab)
    before = lab.snapshot()
    err = assert_err(
        lab.run(
            "ADD",
            bond_conf(["eth1", "eth2"], in_container=False, ipam=lab.ipam()),
            env={"CNI_PATH": "/nonexistent"},
        ),
        103,
    )
    assert err["msg"].startswith('failed to find plugin "host-local"')
    assert lab.snapshot() == before


def test_ipam_type_with_a_path_is_invalid_config(lab):
    two_pod_links(lab)
    before = lab.snapshot()
    assert_err(lab.run("ADD", bond_conf(["net1", "net2"], ipam={"type": "../../bin/true"})), 7)
    assert lab.snapshot() == before


def test_link_already_enslaved(lab):
    two_pod_links(lab)
    lab.veth(lab.pod, "net3")
    conf = bond_conf(["net1", "net2"])
    assert_ok(lab.run("ADD", conf))
    before = lab.snapshot()
    err = assert_err(lab.run("ADD", bond_conf(["net3", "net2"]), ifname="bond1", container_id="ctr-2"), 100)
    assert "already enslaved" in err["msg"]
    assert lab.snapshot() == before
    assert_ok(lab.run("DEL", conf))


@pytest.mark.parametrize("step", ADD_STEPS)
def test_fault_at_each_add_step_rolls_back(lab, step):
    two_host_links(lab)
    before = lab.snapshot()
    conf = bond_conf(["eth1", "eth2"], in_container=False, ipam=lab.ipam())
    err = assert_err(lab.run("ADD", conf, env={"BONDCNI_TEST_FAULT": step}), 999)
    assert step in err["msg"]
    assert lab.snapshot() == before


@pytest.mark.parametrize("step", ADD_STEPS)
def test_kill_at_each_add_step_then_del_restores(lab, step):
    two_host_links(lab)
    before = lab.snapshot()
    conf = bond_conf(["eth1", "eth2"], in_container=False, ipam=lab.ipam())
    res = lab.run("ADD", conf, env={"BONDCNI_TEST_FAULT": f"{step}:kill"})
    assert res.rc == -9, res
    assert_ok(lab.run("DEL", conf))
    assert lab.snapshot() == before


# ---------------------------------------------------------------------------------------------------------
# DEL idempotency


@pytest.fixture
def added(lab):
    two_host_links(lab)
    lab.veth(lab.pod, "net1")
    before = lab.snapshot()
    conf = bond_conf(["eth1", "eth2"], in_container=False, ipam=lab.ipam())
    out = assert_ok(lab.run("ADD", conf))
    return lab, conf, out, before


def test_del_with_netns_gone(added):
    lab, conf, out, before = added
    sh("ip", "netns", "del", lab.pod)
    assert_ok(lab.run("DEL", conf))
    snap = lab.snapshot()
    assert snap["ipam"] == [] and snap["state"] == []
    assert_ok(lab.run("DEL", conf))


def test_del_with_empty_netns(added):
    lab, conf, out, before = added
    assert_ok(lab.run("DEL", conf, netns=""))
    assert lab.snapshot()["ipam"] == []
    assert_ok(lab.run("DEL", conf))


def test_del_after_bond_deleted(added):
    lab, conf, out, before = added
    sh("ip", "-n", lab.pod, "link", "del", "bond0")
    assert_ok(lab.run("DEL", conf))
    assert lab.snapshot() == before


def test_del_after_slave_deleted(added):
    lab, conf, out, before = added
    sh("ip", "-n", lab.pod, "link", "del", "eth2")
    assert_ok(lab.run("DEL", conf))
    snap = lab.snapshot()
    assert [ln for ln in snap["host"] if ln[0] == "eth1"] == [ln for ln in before["host"] if ln[0] == "eth1"]
    assert snap["pod"] == before["pod"] and snap["ipam"] == [] and snap["state"] == []


def test_del_with_config_that_no_longer_validates(added):
    lab, conf, out, before = added
    assert_ok(lab.run("DEL", dict(conf, mode="bogus", miimon="x")))
    assert lab.snapshot() == before


def test_del_without_state_falls_back_to_config(added):
    lab, conf, out, before = added
    for path in lab.state_dir.glob("*.json"):
        os.unlink(path)
    assert_ok(lab.run("DEL", conf))
    snap = lab.snapshot()
    # without a record nothing says where the links came from: the bond and the address go, the links
    # stay in the pod (never moved to the host on a guess; a device returns when the netns is destroyed)
    assert (
        {ln[0] for ln in snap["host"]} == {"lo", "sit0"} and snap["ipam"] == [] and not link(lab.pod, "bond0")
    )
    assert {"eth1", "eth2"} <= {ln[0] for ln in snap["pod"]}


def test_del_never_added(lab):
    two_pod_links(lab)
    before = lab.snapshot()
    assert_ok(lab.run("DEL", bond_conf(["net1", "net2"], ipam=lab.ipam())))
    assert lab.snapshot() == before


# ---------------------------------------------------------------------------------------------------------
# CHECK detects drift


DRIFTS = [
    ("slave released", ["link", "set", "net2", "nomaster"], "is not enslaved"),
    ("slave down", ["link", "set", "net1", "down"], 'slave "net1" is down'),
    ("bond down", ["link", "set", "bond0", "down"], 'bond "bond0" is down'),
    ("option changed", ["link", "set", "bond0", "type", "bond", "miimon", "200"], "bond option miimon"),
    ("address removed", ["addr", "flush", "dev", "bond0"], "from prevResult is missing"),
    ("route removed", ["route", "del", "default"], "route to 0.0.0.0/0"),
    ("bond deleted", ["link", "del", "bond0"], 'bond "bond0" not found'),
]


@pytest.mark.parametrize("what,cmd,message", DRIFTS, ids=[d[0] for d in DRIFTS])
def test_check_detects_drift(lab, what, cmd, message):
    two_pod_links(lab)
    conf = bond_conf(["net1", "net2"], ipam=lab.ipam())
    out = assert_ok(lab.run("ADD", conf))
    checked = dict(conf, prevResult=out)
    assert_ok(lab.run("CHECK", checked))
    sh("ip", "-n", lab.pod, *cmd)
    err = assert_err(lab.run("CHECK", checked), 105)
    assert message in err["msg"]
    assert_ok(lab.run("DEL", checked))


# ---------------------------------------------------------------------------------------------------------
# links by PCI address (a fake sysfs: the lab has no PCI NICs)


def fake_sysfs(lab, functions):
    """functions: {pci: (netdev, pf_pci)} -> bus/pci/devices/<pci>/{net/<netdev>,physfn} and class/net."""
    root = lab.tmp / "sys"
    for pci, (netdev, pf) in functions.items():
        dev = root / "bus/pci/devices" / pci
        (dev / "net" / netdev).mkdir(parents=True)
        pf_dir = root / "bus/pci/devices" / pf
        pf_dir.mkdir(parents=True, exist_ok=True)
        (dev / "physfn").symlink_to(pf_dir)
        cls = root / "class/net" / netdev
        cls.mkdir(parents=True)
        (cls / "device").symlink_to(dev)
    return str(root)


def test_links_by_pci_address_and_device_id(lab):
    two_host_links(lab)
    root = fake_sysfs(
        lab, {"0000:03:02.0": ("eth1", "0000:03:00.0"), "0000:04:02.0": ("eth2", "0000:04:00.0")}
    )
    before = lab.snapshot()
    conf = bond_conf([], in_container=False, deviceID="0000:04:02.0")
    conf["links"] = [{"pciAddress": "0000:03:02.0"}]
    out = assert_ok(lab.run("ADD", conf, env={"BONDCNI_SYSFS_ROOT": root}))
    assert slaves_of(lab.pod) == ["eth1", "eth2"]
    assert [i.get("name") for i in out["interfaces"]] == ["bond0", "eth1", "eth2"]
    assert_ok(lab.run("DEL", conf, env={"BONDCNI_SYSFS_ROOT": root}))
    assert lab.snapshot() == before


def test_same_pf_warns_or_fails(lab):
    two_host_links(lab)
    root = fake_sysfs(
        lab, {"0000:03:02.0": ("eth1", "0000:03:00.0"), "0000:03:02.1": ("eth2", "0000:03:00.0")}
    )
    before = lab.snapshot()
    conf = bond_conf([], in_container=False)
    conf["links"] = [{"pciAddress": "0000:03:02.0"}, {"pciAddress": "0000:03:02.1"}]
    res = lab.run("ADD", conf, env={"BONDCNI_SYSFS_ROOT": root})
    assert_ok(res)
    assert "share the physical function 0000:03:00.0" in res.stderr
    assert_ok(lab.run("DEL", conf, env={"BONDCNI_SYSFS_ROOT": root}))
    assert lab.snapshot() == before
    err = assert_err(lab.run("ADD", dict(conf, requireDistinctPF=True), env={"BONDCNI_SYSFS_ROOT": root}), 7)
    assert err["msg"].startswith("requireDistinctPF: links ['eth1', 'eth2'] share the physical function")
    assert lab.snapshot() == before


def test_ipv4_result_matches_kernel(lab):
    two_pod_links(lab)
    conf = bond_conf(["net1", "net2"], ipam=lab.ipam())
    out = assert_ok(lab.run("ADD", conf))
    assert ipaddress.ip_interface(out["ips"][0]["address"]) in {
        ipaddress.ip_interface(a) for a in addrs(lab.pod)
    }
    assert_ok(lab.run("DEL", conf))


def test_dual_stack_ipam_and_dns_merge(lab):
    two_pod_links(lab)
    ipam = {
        "type": "host-local",
        "ranges": [
            [{"subnet": "10.1.0.0/24", "gateway": "10.1.0.1"}],
            [{"subnet": "2001:db8:1::/64", "gateway": "2001:db8:1::1"}],
        ],
        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}],
        "dataDir": str(lab.ipam_dir),
    }
    conf = bond_conf(
        ["net1", "net2"], ipam=ipam, dns={"nameservers": ["192.0.2.53"], "search": ["example.org"]}
    )
    out = assert_ok(lab.run("ADD", conf))
    assert {ipaddress.ip_interface(ip["address"]).version for ip in out["ips"]} == {4, 6}
    assert all(ip["interface"] == 0 for ip in out["ips"])
    v6 = json.loads(sh("ip", "-n", lab.pod, "-j", "-6", "route", "show", "default").stdout)
    assert v6 and v6[0]["gateway"] == "2001:db8:1::1" and v6[0]["dev"] == "bond0"
    assert out["dns"] == {"nameservers": ["192.0.2.53"], "search": ["example.org"]}
    assert_ok(lab.run("CHECK", dict(conf, prevResult=out)))
    assert_ok(lab.run("DEL", conf))
    assert lab.allocations() == []
