"""netdevsim in the lab kernel: a fake SR-IOV PF whose VFs are configured through the PF, the way
SR-IOV CNI does it (`ip link set PF vf N mac/spoofchk/trust/state`)."""

import os

import pytest

from bondlab.world import netns

pytestmark = pytest.mark.netdevsim


@pytest.fixture
def pf(undo):
    ns = netns.create(undo, "nsim")
    dev_id = 0x6000 + int.from_bytes(os.urandom(2), "big") % 0x0FFF
    ns.exec("sh", "-c", f"echo '{dev_id} 1' > /sys/bus/netdevsim/new_device")
    undo.defer(netns.run, ["sh", "-c", f"echo {dev_id} > /sys/bus/netdevsim/del_device"])
    device = f"/sys/bus/netdevsim/devices/netdevsim{dev_id}"
    # The port netdev lives in the netns; `ip netns exec` shows that netns' view of sysfs.
    (ifname,) = ns.exec("ls", f"{device}/net").stdout.split()
    return ns, device, ifname


def test_vfs_are_configured_through_the_pf(pf):
    ns, device, ifname = pf
    ns.exec("sh", "-c", f"echo 4 > {device}/sriov_numvfs")
    ns.ip("link", "set", ifname, "vf", "0", "mac", "02:00:00:00:00:01", "spoofchk", "on", "trust", "on")
    ns.ip("link", "set", ifname, "vf", "1", "state", "disable")

    vfs = {vf["vf"]: vf for vf in ns.ip_json("link", "show", "dev", ifname)[0]["vfinfo_list"]}
    assert len(vfs) == 4
    assert vfs[0]["address"] == "02:00:00:00:00:01"
    assert vfs[0]["spoofchk"] is True and vfs[0]["trust"] is True
    assert vfs[1]["link_state"] == "disable"
