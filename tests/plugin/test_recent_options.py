"""The plugin on a real kernel: an unaddressed bond (no IPAM), and the bonding options added since 5.15, read
back over rtnetlink (Debian 12's iproute2 6.1 prints neither a slave's prio nor coupled_control)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bondcni import netlink
from bondcni.recent_options import RELEASES, release_tuple
from bondcni.spec import SUPPORTED_VERSIONS
from bondlab.world import lacpdu

from .conftest import bond_conf, links, sh
from .test_kernel import assert_err, assert_ok, two_pod_links

pytestmark = pytest.mark.kernel


def kernel_view(lab, bond: str = "bond0") -> tuple:
    """(the bond's IFLA_BOND_* options, {slave name: its IFLA_BOND_SLAVE_* options}) as the kernel says."""
    fd = os.open(lab.pod_path, os.O_RDONLY)
    try:
        with netlink.Handle(fd, "pod") as pod:
            index = pod.get(name=bond).index
            slaves = {ln.name: pod.bond_slave_options(ln.index) for ln in pod.links() if ln.master == index}
            return pod.bond_options(index), slaves
    finally:
        os.close(fd)


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_no_ipam_makes_an_unaddressed_bond_in_every_version(lab, version):
    two_pod_links(lab)
    before = lab.snapshot()
    conf = bond_conf(["net1", "net2"], version=version)
    out = assert_ok(lab.run("ADD", conf))
    assert out["cniVersion"] == version
    assert [i["name"] for i in out["interfaces"]] == ["bond0", "net1", "net2"]
    assert not out.get("ips") and not out.get("routes")
    assert not [
        a for a in sh("ip", "-n", lab.pod, "-4", "addr", "show", "dev", "bond0").stdout.split() if a == "inet"
    ]
    if version not in ("0.3.0", "0.3.1"):  # CHECK is 0.4.0 on
        assert_ok(lab.run("CHECK", dict(conf, prevResult=out)))
    assert_ok(lab.run("DEL", conf))
    assert lab.snapshot() == before


ARP_MONITOR = dict(miimon=None, arpInterval=100)
CASES = [
    (
        "active-backup",
        dict(ARP_MONITOR, arpIpTarget=["192.0.2.1"], arpMissedMax=5, arpValidate="all",
             nsIp6Target=["2001:db8::254", "fe80::1"]),
        dict(missed_max=5, ns_ip6_target=["2001:db8::254", "fe80::1"], arp_validate=3),
        {},
    ),
    ("active-backup", dict(ARP_MONITOR, nsIp6Target=["fe80::1"]), dict(ns_ip6_target=["fe80::1"]), {}),
    (
        "802.3ad",
        dict(lacpActive=False, coupledControl=False, adActorSysPrio=100, adActorSystem="02:AA:BB:CC:DD:EE",
             adUserPortKey=7),
        dict(ad_lacp_active=0, coupled_control=0, ad_actor_sys_prio=100, ad_actor_system="02:aa:bb:cc:dd:ee",
             ad_user_port_key=7),
        {},
    ),
    ("active-backup", dict(links=[{"name": "net1", "prio": -50}, {"name": "net2", "prio": 10}]), {},
     {"net1": -50, "net2": 10}),
]  # fmt: skip


@pytest.mark.parametrize(
    "mode,extra,want,prio", CASES, ids=["arp-ns-missed", "ns-only", "lacp-identity", "prio"]
)
def test_recent_options_reach_the_kernel(lab, mode, extra, want, prio):
    two_pod_links(lab)
    before = lab.snapshot()
    conf = bond_conf(["net1", "net2"], mode=mode, **{k: v for k, v in extra.items() if v is not None})
    if extra.get("miimon", 1) is None:
        del conf["miimon"]
    out = assert_ok(lab.run("ADD", conf))
    options, slaves = kernel_view(lab)
    assert {k: options.get(k) for k in want} == want
    assert {name: slaves[name].get("prio") for name in prio} == prio
    assert_ok(lab.run("CHECK", dict(conf, prevResult=out)))
    assert_ok(lab.run("DEL", conf))
    assert lab.snapshot() == before


def test_check_catches_a_changed_recent_option_and_slave_prio(lab):
    two_pod_links(lab)
    conf = bond_conf(
        ["net1", "net2"], miimon=None, arpInterval=100, arpIpTarget=["192.0.2.1"], arpMissedMax=5
    )
    del conf["miimon"]
    conf["links"] = [{"name": "net1", "prio": 5}, {"name": "net2"}]
    checked = dict(conf, prevResult=assert_ok(lab.run("ADD", conf)))
    assert_ok(lab.run("CHECK", checked))
    sh("ip", "-n", lab.pod, "link", "set", "bond0", "type", "bond", "arp_missed_max", "3")
    assert (
        "bond option missed_max: configured 5, the kernel reports 3"
        in assert_err(lab.run("CHECK", checked), 105)["msg"]
    )
    sh("ip", "-n", lab.pod, "link", "set", "bond0", "type", "bond", "arp_missed_max", "5")
    fd = os.open(lab.pod_path, os.O_RDONLY)
    try:
        with netlink.Handle(fd, "pod") as pod:
            pod.set_bond_slave_options(pod.get(name="net1").index, {"prio": 1})
    finally:
        os.close(fd)
    assert (
        "slave net1 option prio: configured 5, the kernel reports 1"
        in assert_err(lab.run("CHECK", checked), 105)["msg"]
    )
    assert_ok(lab.run("DEL", checked))


TOO_NEW = [
    ("broadcast_neigh", dict(broadcastNeighbor=True), "broadcastNeighbor"),
    ("ad_select", dict(adSelect="actor_port_prio"), 'adSelect "actor_port_prio"'),
]


@pytest.mark.parametrize("key,extra,field", TOO_NEW, ids=[t[0] for t in TOO_NEW])
def test_an_option_newer_than_the_kernel_is_code_101_and_nothing_is_left(lab, key, extra, field):
    release = os.uname().release
    if release_tuple(release) >= release_tuple(RELEASES[key][1]):
        pytest.skip(f"this kernel ({release}) has {field}")
    two_pod_links(lab)
    before = lab.snapshot()
    err = assert_err(lab.run("ADD", bond_conf(["net1", "net2"], mode="802.3ad", **extra)), 101)
    assert err["msg"].startswith(f"{field}: this node's kernel ({release}) does not have it; Linux ")
    assert lab.snapshot() == before


def add_while_in_peer(lab, conf: dict, script: str, *argv: str) -> str:
    """ADD while a Python `script` runs in the peer netns (the far ends of the slaves' veths); its stdout."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", lab.peer, sys.executable, "-c", script, *argv],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert_ok(lab.run("ADD", conf))
        return proc.communicate(timeout=60)[0]
    finally:
        proc.kill()


CAPTURE_LACPDU = """
import socket, sys, time
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x8809))
deadline = time.monotonic() + float(sys.argv[1])
while time.monotonic() < deadline:
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        frame = sock.recv(2048)
    except socket.timeout:
        break
    print(frame.hex())
    break
"""


def test_the_lacpdus_carry_the_configured_system_identity(lab):
    """adActorSysPrio, adActorSystem and adUserPortKey on the wire: the first LACPDU a slave sends (its
    key is the user port key << 6 | speed and duplex bits, as bond_3ad.c builds it)."""
    two_pod_links(lab)
    identity = dict(adActorSysPrio=100, adActorSystem="02:aa:bb:cc:dd:ee", adUserPortKey=7)
    conf = bond_conf(["net1", "net2"], mode="802.3ad", lacpRate="fast", **identity)
    out = add_while_in_peer(lab, conf, CAPTURE_LACPDU, "10")
    assert out.strip(), "no LACPDU from the bond within 10 s"
    actor = lacpdu.heard(bytes.fromhex(out.split()[0]))
    assert (actor.system, actor.system_priority, actor.key >> 6) == ("02:aa:bb:cc:dd:ee", 100, 7)
    assert_ok(lab.run("DEL", conf))


def test_a_links_actor_port_prio_is_applied_or_refused_as_too_old(lab):
    """links[].adActorPortPrio (IFLA_BOND_SLAVE_ACTOR_PORT_PRIO, 6.18, backported to Debian's 6.12.118):
    read back on the slave where the kernel has it, code 101 with the node as found where it does not."""
    two_pod_links(lab)
    before = lab.snapshot()
    conf = bond_conf(["net1", "net2"], mode="802.3ad")
    conf["links"] = [{"name": "net1", "adActorPortPrio": 1000}, {"name": "net2"}]
    res = lab.run("ADD", conf)
    if res.rc == 0:
        assert kernel_view(lab)[1]["net1"].get("actor_port_prio") == 1000
        assert_ok(lab.run("CHECK", dict(conf, prevResult=res.json)))
        assert_ok(lab.run("DEL", conf))
    else:
        assert "links[].adActorPortPrio: this node's kernel" in assert_err(res, 101)["msg"]
    assert lab.snapshot() == before


# A partner on every veth peer that says it is in sync but never collecting: 802.1AX independent control
# (coupledControl false) then leaves the bond's ports collecting and not distributing (Mux COLLECTING, until
# the partner collects); coupled control (the default) takes them to collecting and distributing at once.
SYNC_NOT_COLLECTING_PARTNER = """
import json, select, socket, sys, time
from bondlab.world import lacpdu
seconds, names = float(sys.argv[1]), sys.argv[2:]
socks = {}
for name in names:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(lacpdu.ETH_P_SLOW))
    sock.bind((name, 0))
    socks[sock] = name
bits = lacpdu.BIT
state = bits["activity"] | bits["aggregation"] | bits["timeout"] | bits["synchronization"]
heard = {}
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    ready, _, _ = select.select(list(socks), [], [], max(0.0, deadline - time.monotonic()))
    for sock in ready:
        frame, address = sock.recvfrom(2048)
        bond = lacpdu.heard(frame)
        if address[2] == socket.PACKET_OUTGOING or bond is None:
            continue
        name = socks[sock]
        heard[name] = sorted(b for b in bits if bond.has(b))
        with open(f"/sys/class/net/{name}/address") as stream:
            mac = stream.read().strip()
        me = lacpdu.Info("02:00:00:00:99:99", lacpdu.SYSTEM_PRIORITY, lacpdu.KEY, names.index(name) + 1,
                         lacpdu.PORT_PRIORITY, state)
        sock.send(lacpdu.build(me, bond, mac))
print(json.dumps(heard))
"""


@pytest.mark.parametrize("coupled", [None, False], ids=["default-coupled", "coupledControl-false"])
def test_coupled_control_on_the_wire(lab, coupled):
    two_pod_links(lab)
    peers = [ln["ifname"] for ln in links(lab.peer) if ln["ifname"] != "lo" and "UP" in ln["flags"]]
    extra = {} if coupled is None else {"coupledControl": coupled}
    conf = bond_conf(["net1", "net2"], mode="802.3ad", lacpRate="fast", **extra)
    states = json.loads(add_while_in_peer(lab, conf, SYNC_NOT_COLLECTING_PARTNER, "8", *peers))
    assert sorted(states) == sorted(peers), states
    for bits in states.values():
        assert "synchronization" in bits and "collecting" in bits, states
        assert ("distributing" in bits) == (coupled is None), states
    assert_ok(lab.run("DEL", conf))
