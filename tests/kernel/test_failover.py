"""The lab's first real-kernel test: an active-backup bond fails over when its active leg is cut.

ns A                                    ns B
bond0 (10.99.0.1/24) == a1 ---- b1 == bond0 (10.99.0.2/24)
                     == a2 ---- b2 ==
"""

import pytest

from bondlab.util.wait import until
from bondlab.world import netns

pytestmark = pytest.mark.kernel


def bond_info(ns, bond="bond0") -> dict:
    return ns.link(bond)["linkinfo"]["info_data"]


def make_bond(ns, slaves, address):
    ns.ip("link", "add", "bond0", "type", "bond", "mode", "active-backup", "miimon", "100")
    for slave in slaves:
        ns.ip("link", "set", slave, "down")
        ns.ip("link", "set", slave, "master", "bond0")
    ns.ip("link", "set", "bond0", "up")
    ns.ip("addr", "add", address, "dev", "bond0")


def ping(ns, address, count=3):
    return ns.exec("ping", "-c", str(count), "-i", "0.2", "-W", "2", address, check=False)


def test_active_backup_fails_over_when_the_active_leg_is_cut(undo):
    a, b = netns.create(undo, "a"), netns.create(undo, "b")
    for leg in ("1", "2"):
        netns.run(
            [
                "ip",
                "-n",
                a.name,
                "link",
                "add",
                "a" + leg,
                "type",
                "veth",
                "peer",
                "name",
                "b" + leg,
                "netns",
                b.name,
            ]
        )
    make_bond(a, ["a1", "a2"], "10.99.0.1/24")
    make_bond(b, ["b1", "b2"], "10.99.0.2/24")
    until(lambda: bond_info(a).get("active_slave"), 5, "bond in A has an active slave")

    assert ping(a, "10.99.0.2").returncode == 0

    active = bond_info(a)["active_slave"]
    peer = "b" + active[-1]
    b.ip("link", "set", peer, "down")  # the cable is cut: the active slave in A loses carrier

    moved = until(
        lambda: (bond_info(a).get("active_slave") not in (None, active)) and bond_info(a)["active_slave"],
        5,
        f"active slave of A moves away from {active}",
    )
    assert moved == ("a2" if active == "a1" else "a1")
    assert a.link(active)["linkinfo"]["info_slave_data"]["mii_status"] == "DOWN"
    assert ping(a, "10.99.0.2").returncode == 0
