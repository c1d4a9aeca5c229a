"""Bond cases: upstream bond-cni's documented fields as the kernel reads them back (bond-cni), what CHECK
and DEL owe a bond (spec), and this project's fields and promises (extension: a plugin that rejects or
ignores them is "not supported")."""

from __future__ import annotations

import os

from bondlab.conformance import judges
from bondlab.conformance.cases_lifecycle import BEST_EFFORT, CHECK_DRIFT, added, check_fails_after, released
from bondlab.conformance.cases_protocol import SPEC
from bondlab.conformance.registry import NotSupported, case, expect

README = "upstream bond-cni README.md, Network configuration reference:"
MODES = ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb")


def kernel(ctx, key: str):
    """A bonding option of the bond as the kernel reports it (`ip -d link`)."""
    return ctx.sandbox.link(ctx.sandbox.pod, ctx.ifname).get("linkinfo", {}).get("info_data", {}).get(key)


def rtnetlink(ctx) -> dict:
    """The bond's IFLA_BOND_* and each slave's IFLA_BOND_SLAVE_* options, read over rtnetlink (Debian 12's
    iproute2 prints neither coupled_control nor a slave's prio): {"bond": {...}, slave name: {...}}."""
    from bondcni import netlink

    fd = os.open(ctx.sandbox.path(ctx.sandbox.pod), os.O_RDONLY)
    try:
        with netlink.Handle(fd, "pod") as pod:
            bond = pod.get(name=ctx.ifname)
            if bond is None:
                return {}
            out = {ln.name: pod.bond_slave_options(ln.index) for ln in pod.links() if ln.master == bond.index}
            return dict(out, bond=pod.bond_options(bond.index))
    finally:
        os.close(fd)


def slaves(ctx) -> list:
    return sorted(ln[0] for ln in ctx.sandbox.links(ctx.sandbox.pod) or [] if ln[4] == ctx.ifname)


def applied(ctx, fields: dict, key: str, want) -> None:
    """ADD with `fields`: the kernel must read back `want` for `key`; DEL after."""
    conf = ctx.config(**fields)
    result = ctx.add(conf)
    got = kernel(ctx, key)
    ctx.must("DEL", ctx.with_prev(conf, result))
    expect(got == want, f"the kernel reads {key} {got!r}, the config asked for {want!r}")


@case(
    "field-mode",
    "bond-cni",
    f"""{README} "mode" (the bonding policy; every kernel mode) and "links
      (dictionary, required): master interface names" (they become the bond's slaves).""",
)
def field_mode(ctx):
    for mode in MODES:
        conf = ctx.config(mode=mode)
        result = ctx.add(conf)
        got, enslaved = kernel(ctx, "mode"), slaves(ctx)
        ctx.must("DEL", ctx.with_prev(conf, result))
        expect(got == mode, f"mode {mode}: the kernel reads {got!r}")
        expect(enslaved == ["net1", "net2"], f"mode {mode}: the bond's slaves are {enslaved}")


for _id, _value in (("field-miimon-string", "250"), ("field-miimon-number", 250)):
    case(
        _id,
        "bond-cni",
        f"""{README} "miimon (int, required): specifies the arp link monitoring frequency in
         milliseconds" (its own example writes "miimon": "100"; here {_value!r}).""",
        fields={"miimon": _value},
        key="miimon",
        want=250,
    )(applied)


@case("field-mtu", "bond-cni", f'{README} "mtu (int, optional): the mtu of the bond. Default is 1500."')
def field_mtu(ctx):
    for mtu in (1400, None):
        conf = ctx.config(mtu=mtu)
        result = ctx.add(conf)
        got = ctx.sandbox.link(ctx.sandbox.pod, ctx.ifname).get("mtu")
        ctx.must("DEL", ctx.with_prev(conf, result))
        expect(got == (mtu or 1500), f"mtu {mtu}: the bond's MTU is {got}")


case(
    "field-failovermac",
    "bond-cni",
    f"""{README} "failOverMac (int, optional): specifies the failOverMac
     setting for the bond. Should be set to 1 for active-backup bond modes".""",
    fields={"failOverMac": 1},
    key="fail_over_mac",
    want="active",
)(applied)


def host_links(ctx) -> dict:
    """Two host links of different MAC, MTU and admin state; the config that bonds them (with the lower
    MTU: upstream's default bond MTU, 1500, must not exceed the links')."""
    ctx.sandbox.veths(ctx.sandbox.host, ["eth1", "eth2"], up=False)
    ctx.sandbox.host.ip("link", "set", "eth1", "address", "02:aa:00:00:00:01", "mtu", "1400", "up")
    ctx.sandbox.host.ip("link", "set", "eth2", "address", "02:aa:00:00:00:02")
    return ctx.config(linksInContainer=False, links=[{"name": "eth1"}, {"name": "eth2"}], mtu=1400)


@case(
    "field-links-in-container-false",
    "bond-cni",
    f"""{README} "linksInContainer(boolean, optional):
      specifies if slave links are in container to start. Default is false i.e. look for interfaces on host
      before bonding".""",
)
def links_from_host(ctx):
    conf = host_links(ctx)
    result = ctx.add(conf)
    enslaved, left = slaves(ctx), [ln[0] for ln in ctx.sandbox.links(ctx.sandbox.host)]
    ctx.must("DEL", ctx.with_prev(conf, result))
    expect(enslaved == ["eth1", "eth2"], f"the bond's slaves are {enslaved}")
    expect("eth1" not in left and "eth2" not in left, "the host links are still on the host")


@case(
    "del-gives-host-links-back",
    "spec",
    f"""{SPEC} Section 2 DEL: "undo any modifications applied in the
      plugin's ADD functionality" (host links come back with their name, MAC, MTU and admin state).""",
)
def host_links_back(ctx):
    conf = host_links(ctx)
    before = ctx.sandbox.snapshot()
    result = ctx.add(conf)
    ctx.must("DEL", ctx.with_prev(conf, result))
    ctx.unchanged(before, "after DEL (links as name, MAC, MTU, up, master)")


@case("del-slave-gone", "spec", BEST_EFFORT + " (a slave deleted before DEL)")
def del_slave_gone(ctx):
    _, conf, result = added(ctx)
    ctx.sandbox.pod.ip("link", "del", "net2")
    ctx.must("DEL", ctx.with_prev(conf, result))
    released(ctx, "DEL with a slave gone")
    expect(not ctx.sandbox.link(ctx.sandbox.pod, ctx.ifname), f"{ctx.ifname} is still in the pod")


DRIFT = (
    CHECK_DRIFT
    + """ "The plugin should return an error if other resources not tracked in the Result
type ... are missing or are in an invalid state"."""
)


@case("check-slave-removed", "spec", DRIFT)
def check_slave(ctx):
    check_fails_after(ctx, lambda c: c.sandbox.pod.ip("link", "set", "net2", "nomaster"))


def change_mode(ctx) -> None:
    ctx.sandbox.pod.ip("link", "set", ctx.ifname, "down")
    for slave in ("net1", "net2"):
        ctx.sandbox.pod.ip("link", "set", slave, "nomaster")
    ctx.sandbox.pod.ip("link", "set", ctx.ifname, "type", "bond", "mode", "balance-rr")
    for slave in ("net1", "net2"):
        ctx.sandbox.pod.ip("link", "set", slave, "down")
        ctx.sandbox.pod.ip("link", "set", slave, "master", ctx.ifname)
    ctx.sandbox.pod.ip("link", "set", ctx.ifname, "up")


@case("check-mode-changed", "spec", DRIFT)
def check_mode(ctx):
    check_fails_after(ctx, change_mode)


# --- extensions: this project's fields and promises ---------------------------------------------------------

EXTENSION = "this project's README.md, The plugin:"


def added_or_not_supported(ctx, conf: dict, what: str = "it"):
    """ADD of an extension's config: its answer, or NotSupported when refused (with a CNI error)."""
    got = ctx.call("ADD", conf)
    if not got.ok:
        found = judges.error_problems(got.rc, got.json)
        expect(not found, f"ADD refused {what} without a CNI error: {'; '.join(found)}")
        raise NotSupported(f"refused: {got.json.get('msg')}")
    return got


def extension(ctx, fields: dict, key: str, want) -> None:
    """An extension field: refused with a CNI error, or applied as asked, or ignored (not supported)."""
    conf = ctx.config(**fields)
    got = added_or_not_supported(ctx, conf)
    value = kernel(ctx, key)
    ctx.must("DEL", ctx.with_prev(conf, got.json))
    if value != want:
        raise NotSupported(f"ignored: the kernel reads {key} {value!r}, the config asked for {want!r}")


EXTENSIONS = {
    "primary": ({"primary": "net2"}, "primary", "net2"),
    "primary-reselect": ({"primary": "net2", "primaryReselect": "better"}, "primary_reselect", "better"),
    "updelay": ({"updelay": 200}, "updelay", 200),
    "downdelay": ({"downdelay": 300}, "downdelay", 300),
    "num-grat-arp": ({"numGratArp": 3}, "num_peer_notif", 3),
    "peer-notify-delay": ({"peerNotifyDelay": 100}, "peer_notify_delay", 100),
    "arp-monitor": ({"miimon": None, "arpInterval": 250, "arpIpTarget": ["192.0.2.1"]}, "arp_interval", 250),
    "lacp-rate": ({"mode": "802.3ad", "lacpRate": "fast"}, "ad_lacp_rate", "fast"),
    "ad-select": ({"mode": "802.3ad", "adSelect": "bandwidth"}, "ad_select", "bandwidth"),
    "min-links": ({"mode": "802.3ad", "minLinks": 1}, "min_links", 1),
    "xmit-hash-policy": (
        {"mode": "balance-xor", "xmitHashPolicy": "layer3+4"},
        "xmit_hash_policy",
        "layer3+4",
    ),
    "all-slaves-active": ({"allSlavesActive": 1}, "all_slaves_active", 1),
    "tlb-dynamic-lb": ({"mode": "balance-tlb", "tlbDynamicLb": 0}, "tlb_dynamic_lb", 0),
    # since kernel 5.15 (issue 21)
    "arp-missed-max": (
        {"miimon": None, "arpInterval": 250, "arpIpTarget": ["192.0.2.1"], "arpMissedMax": 5},
        "arp_missed_max",
        5,
    ),
    "ns-ip6-target": (
        {"miimon": None, "arpInterval": 250, "nsIp6Target": ["2001:db8::1", "fe80::1"]},
        "ns_ip6_target",
        ["2001:db8::1", "fe80::1"],
    ),
    "lacp-active": ({"mode": "802.3ad", "lacpActive": False}, "ad_lacp_active", "off"),
    "ad-actor-sys-prio": ({"mode": "802.3ad", "adActorSysPrio": 100}, "ad_actor_sys_prio", 100),
    "ad-actor-system": (
        {"mode": "802.3ad", "adActorSystem": "02:00:00:00:aa:01"},
        "ad_actor_system",
        "02:00:00:00:aa:01",
    ),
    "ad-user-port-key": ({"mode": "802.3ad", "adUserPortKey": 7}, "ad_user_port_key", 7),
}
for _name, (_fields, _key, _want) in EXTENSIONS.items():
    _shown = ", ".join(f'"{k}": {v!r}' for k, v in _fields.items() if v is not None)
    case(
        f"ext-{_name}",
        "extension",
        f"{EXTENSION} {_shown} is applied (the kernel's {_key} reads {_want!r}).",
        fields=_fields,
        key=_key,
        want=_want,
    )(extension)


def extension_rtnetlink(ctx, fields: dict, where: str, key: str, want) -> None:
    """As extension(), judged on what rtnetlink reports for the bond or one slave (`where`)."""
    conf = ctx.config(**fields)
    got = added_or_not_supported(ctx, conf)
    value = rtnetlink(ctx).get(where, {}).get(key)
    ctx.must("DEL", ctx.with_prev(conf, got.json))
    if value != want:
        raise NotSupported(
            f"ignored: the kernel reads {where} {key} {value!r}, the config asked for {want!r}"
        )


RTNETLINK_EXTENSIONS = {
    "coupled-control": ({"mode": "802.3ad", "coupledControl": False}, "bond", "coupled_control", 0),
    "link-prio": ({"links": [{"name": "net1"}, {"name": "net2", "prio": 10}]}, "net2", "prio", 10),
}
for _name, (_fields, _where, _key, _want) in RTNETLINK_EXTENSIONS.items():
    case(
        f"ext-{_name}",
        "extension",
        f"{EXTENSION} {_fields} is applied (rtnetlink: {_where}'s {_key} reads {_want!r}).",
        fields=_fields,
        where=_where,
        key=_key,
        want=_want,
    )(extension_rtnetlink)


@case(
    "ext-no-ipam",
    "extension",
    f"""{EXTENSION} a config without "ipam" makes an unaddressed bond: the result lists
      the bond and its slaves and no IPs; CHECK and DEL work (upstream bond-cni#19).""",
)
def no_ipam(ctx):
    before = ctx.sandbox.snapshot()
    conf = ctx.config(ipam=False)
    got = added_or_not_supported(ctx, conf, "a config without ipam")
    names = [i.get("name") for i in got.json.get("interfaces") or []]
    checked = ctx.call("CHECK", ctx.with_prev(conf, got.json))
    ctx.must("DEL", ctx.with_prev(conf, got.json))
    expect(names[:1] == [ctx.ifname] and sorted(names[1:]) == ["net1", "net2"], f"result interfaces {names}")
    expect(not got.json.get("ips"), f"result ips {got.json.get('ips')} without IPAM")
    expect(checked.ok, f"CHECK of the unaddressed bond failed: {checked.json}")
    ctx.unchanged(before, "after DEL of the unaddressed bond")


def left_as_found(ctx, conf: dict, what: str) -> None:
    """A failed ADD alone (no DEL) leaves the node and the pod as they were."""
    before = ctx.sandbox.snapshot()
    got = ctx.call("ADD", conf)
    found = judges.error_problems(got.rc, got.json)
    expect(not found, f"ADD with {what}: " + "; ".join(found))
    after = ctx.sandbox.snapshot()
    if after != before:
        changed = ctx.sandbox.difference(before, after)
        raise NotSupported(f"no rollback after the failed ADD ({what}): {changed}")


ROLLBACK = f'{EXTENSION} "Any failure during ADD rolls back: links where they were, IPAM released, no bond"'


@case("ext-rollback-missing-link", "extension", ROLLBACK + " (a link that does not exist).")
def rollback_link(ctx):
    left_as_found(ctx, ctx.config(links=[{"name": "net1"}, {"name": "nosuch"}]), "a missing link")


@case(
    "ext-rollback-missing-host-link", "extension", ROLLBACK + " (linksInContainer false, one link missing)."
)
def rollback_host_link(ctx):
    host_links(ctx)
    conf = ctx.config(linksInContainer=False, links=[{"name": "eth1"}, {"name": "nosuch"}])
    left_as_found(ctx, conf, "a missing host link")


@case("ext-rollback-ipam-failure", "extension", ROLLBACK + " (host-local has no address left).")
def rollback_ipam(ctx):
    conf = ctx.config(ipam=False)
    conf["ipam"] = ctx.sandbox.exhausted_ipam()
    left_as_found(ctx, conf, "a failing IPAM")


@case("ext-rollback-kernel-refusal", "extension", ROLLBACK + " (an MTU the links cannot carry).")
def rollback_kernel(ctx):
    left_as_found(ctx, ctx.config(mtu=70000), "mtu 70000")


@case(
    "ext-tenant-cannot-take-node-uplink",
    "extension",
    """SECURITY.md rule 3: "A host link is refused
      (code 106, naming the link and the rule, nothing touched) when it holds a global address, when a route
      in any table goes through it (the default route included)".""",
)
def tenant_uplink(ctx):
    host = ctx.sandbox.host
    ctx.sandbox.veths(host, ["eth0", "eth1"])
    host.ip("addr", "add", "192.0.2.10/24", "dev", "eth0")
    host.ip("route", "add", "default", "via", "192.0.2.1", "dev", "eth0")
    conf = ctx.config(linksInContainer=False, links=[{"name": "eth0"}, {"name": "eth1"}])
    before = ctx.sandbox.snapshot()
    got = ctx.call("ADD", conf)
    if got.ok:
        ctx.call("DEL", ctx.with_prev(conf, got.json))
        raise NotSupported("the node's uplink (address, default route) was taken into the pod")
    found = judges.error_problems(got.rc, got.json)
    expect(not found, "; ".join(found))
    ctx.unchanged(before, "the refused ADD changed the node")


@case(
    "ext-keeps-ipam-dns",
    "extension",
    """this project's plugin: the result's dns holds what the IPAM
      plugin returned (host-local's resolvConf) merged with the config's "dns" (upstream, since its PR #34,
      and the reference plugins put only the config's "dns" in the result).""",
)
def add_dns(ctx):
    path = f"{ctx.sandbox.tmp}/resolv.conf"
    with open(path, "w") as stream:
        stream.write("nameserver 192.0.2.53\nsearch conformance.test\n")
    conf = ctx.config(ipam=False)
    conf["ipam"] = ctx.sandbox.ipam(resolvConf=path)
    result = ctx.add(conf)
    dns = result.get("dns") or {}
    ctx.must("DEL", ctx.with_prev(conf, result))
    if "192.0.2.53" not in (dns.get("nameservers") or []):
        raise NotSupported(f"ignored: result dns {dns}, IPAM gave nameserver 192.0.2.53")
