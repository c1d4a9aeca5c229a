"""Record real kernel answers as hex fixtures for test_rtnl_decode.py (run once, as root, on the lab kernel):

    bondlab vm --rw tests/unit/rtnl_fixtures -- .venv/bin/python tests/unit/rtnl_fixtures/record.py

Builds its objects with iproute2 (not with the plugin's codec) in a throwaway netns, then asks through the
codec and writes every datagram the kernel sent, one hex line each, to NAME.hex beside this file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "plugin"))

from bondcni import netlink, rtnl  # noqa: E402

# What the fixtures hold (test_rtnl_decode.py asserts these values back).
AB_BOND = (
    "mode active-backup arp_interval 200 arp_ip_target 10.0.0.1,10.0.0.2 arp_validate all "
    "arp_all_targets all ns_ip6_target fd00::1,fd00::2 primary_reselect better "
    "fail_over_mac active num_grat_arp 3 all_slaves_active 1 min_links 2 resend_igmp 3 "
    "lp_interval 2 arp_missed_max 3"
)
LACP_BOND = (
    "mode 802.3ad miimon 100 updelay 200 downdelay 300 peer_notify_delay 400 lacp_rate fast "
    "ad_select bandwidth ad_actor_sys_prio 100 ad_user_port_key 5 "
    "ad_actor_system 02:00:00:00:00:aa xmit_hash_policy layer3+4 lacp_active on"
)


class Recorder(netlink.Handle):
    def __init__(self, *argv) -> None:
        super().__init__(*argv)
        self.datagrams: list = []

    def _recv(self) -> int:
        size = super()._recv()
        self.datagrams.append(bytes(self.buf[:size]))
        return size

    def save(self, name: str) -> None:
        (HERE / f"{name}.hex").write_text("".join(d.hex() + "\n" for d in self.datagrams))
        self.datagrams = []


def ip(ns: str, *argv: str) -> None:
    subprocess.run(["ip", "-n", ns, *argv], check=True)


def main() -> int:
    tag = uuid.uuid4().hex[:6]
    ns, far = f"rec-{tag}", f"ref-{tag}"
    for name in (ns, far):
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        ip(ns, "link", "set", "lo", "up")
        ip(ns, "link", "add", "ab0", "type", "bond", *AB_BOND.split())
        ip(ns, "link", "add", "s0", "type", "dummy")
        ip(ns, "link", "set", "s0", "master", "ab0")
        ip(ns, "link", "set", "ab0", "type", "bond", "primary", "s0")
        ip(ns, "link", "set", "ab0", "up")
        ip(ns, "link", "add", "lacp0", "type", "bond", *LACP_BOND.split())
        ip(ns, "link", "add", "v0", "mtu", "1400", "type", "veth", "peer", "name", "v0p", "netns", far)
        ip(ns, "link", "set", "v0", "alias", "tenant: a b", "up")
        ip(far, "link", "set", "v0p", "up")
        ip(ns, "address", "add", "10.5.0.2/24", "dev", "v0")
        ip(ns, "address", "add", "fd00:5::2/64", "dev", "v0", "nodad")
        ip(ns, "route", "add", "default", "via", "10.5.0.1", "dev", "v0")
        ip(ns, "route", "add", "10.6.0.0/16", "via", "10.5.0.1", "dev", "v0", "table", "100")
        ip(ns, "route", "add", "fd00:7::/48", "via", "fd00:5::1", "dev", "v0")
        fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
        handle = Recorder(fd, "recorded")
        handle.request(rtnl.RTM_GETLINK, 0, rtnl.link_query(name="ab0"))
        handle.save("link-bond-active-backup")
        handle.request(rtnl.RTM_GETLINK, 0, rtnl.link_query(name="lacp0"))
        handle.save("link-bond-802.3ad")
        handle.request(rtnl.RTM_GETLINK, 0, rtnl.link_query(name="v0"))
        handle.save("link-veth")
        handle.request(rtnl.RTM_GETLINK, rtnl.NLM_F_DUMP, rtnl.link_query())
        handle.save("link-dump")
        handle.request(rtnl.RTM_GETADDR, rtnl.NLM_F_DUMP, rtnl.dump_query(rtnl.RTM_GETADDR))
        handle.save("address-dump")
        handle.request(rtnl.RTM_GETROUTE, rtnl.NLM_F_DUMP, rtnl.dump_query(rtnl.RTM_GETROUTE))
        handle.save("route-dump")
        v0 = handle.get(name="v0").index
        handle.datagrams = []
        try:
            handle.request(rtnl.RTM_NEWLINK, rtnl.NLM_F_ACK, rtnl.link_change(v0, mtu=10))
        except OSError as exc:
            print(f"recorded error: {exc} ({exc.extack})")
        handle.save("error-mtu")
        handle.close()
        os.close(fd)
    finally:
        for name in (ns, far):
            subprocess.run(["ip", "netns", "del", name], check=False)
    print(f"wrote {sorted(p.name for p in HERE.glob('*.hex'))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
