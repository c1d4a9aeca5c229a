"""parse(): every field, every error message (path, expected, actual), upstream's quirks."""

import json

import pytest

from bondcni import config, errors
from bondcni.config import parse
from bondcni.delete import parse_for_del
from bondcni.errors import CniError

from .seeds import README_EXAMPLE, SEED_002_LACP


def base(**kw):
    conf = {
        "cniVersion": "1.0.0",
        "name": "bondnet",
        "type": "bond",
        "mode": "active-backup",
        "miimon": "100",
        "links": [{"name": "net1"}, {"name": "net2"}],
    }
    for key, value in kw.items():
        if value is DROP:
            conf.pop(key, None)
        else:
            conf[key] = value
    return conf


DROP = object()
IPAM_TYPE = (
    "ipam.type: expected a plugin name without '/', '\\', NUL or a leading '.' (looked up in CNI_PATH), got "
)


def p(conf):
    return parse(json.dumps(conf).encode())


def err(conf):
    with pytest.raises(CniError) as info:
        p(conf)
    return info.value


def test_readme_example():
    conf = p(README_EXAMPLE)
    assert conf.mode == "active-backup"
    assert conf.options.mode == 1 and conf.options.fail_over_mac == 1 and conf.options.miimon == 100
    assert conf.links_in_container is True
    assert [lk.name for lk in conf.links] == ["net1", "net2"]
    assert conf.mtu == 1500 and conf.ipam_type == "host-local"


def test_seed_002_lacp_example():
    conf = p(SEED_002_LACP)
    assert conf.options.mode == 4 and conf.options.fail_over_mac == 0 and conf.ipam_type == "static"


@pytest.mark.parametrize("name,value", list(config.MODES.items()))
def test_all_seven_modes(name, value):
    assert p(base(mode=name)).options.mode == value


@pytest.mark.parametrize("mode", ["ACTIVE-BACKUP", "1", 1, "", None, "lacp"])
def test_bad_mode_lists_the_names(mode):
    e = err(base(mode=mode))
    assert e.code == errors.INVALID_CONFIG
    assert e.msg.startswith("mode: expected one of balance-rr, active-backup, balance-xor")
    assert e.msg.endswith("got " + json.dumps(mode))


def test_missing_mode():
    assert err(base(mode=DROP)).msg.endswith("got nothing (field missing)")


@pytest.mark.parametrize("value,want", [("100", 100), (100, 100), ("0", 0), (0, 0), ("250", 250)])
def test_miimon_string_or_int(value, want):
    assert p(base(miimon=value)).options.miimon == want


def test_miimon_absent_is_not_sent():
    assert p(base(miimon=DROP)).options.miimon is None


@pytest.mark.parametrize("value", ["-1", -1, " 100", "1e2", "", 1.5, True, [100], "١٠٠", 2**31])
def test_miimon_invalid(value):
    e = err(base(miimon=value))
    assert e.code == 7
    assert e.msg == (
        f'miimon: expected an integer from 0 to {2**31 - 1} or a string of digits like "100", '
        f"got {json.dumps(value)}"
    )


@pytest.mark.parametrize("value,want", [(0, 0), (1, 1), (2, 2), ("none", 0), ("active", 1), ("follow", 2)])
def test_fail_over_mac(value, want):
    assert p(base(failOverMac=value)).options.fail_over_mac == want


@pytest.mark.parametrize("value", [3, -1, "1", "Active", True])
def test_fail_over_mac_invalid(value):
    e = err(base(failOverMac=value))
    assert e.msg == f"failOverMac: expected one of none, active, follow or 0..2, got {json.dumps(value)}"


@pytest.mark.parametrize(
    "extra,attr,want",
    [
        ({"xmitHashPolicy": "layer2"}, "xmit_hash_policy", 0),
        ({"xmitHashPolicy": "layer3+4"}, "xmit_hash_policy", 1),
        ({"xmitHashPolicy": "layer2+3"}, "xmit_hash_policy", 2),
        ({"xmitHashPolicy": "encap2+3"}, "xmit_hash_policy", 3),
        ({"xmitHashPolicy": "encap3+4"}, "xmit_hash_policy", 4),
        ({"xmitHashPolicy": "vlan+srcmac"}, "xmit_hash_policy", 5),
        ({"allSlavesActive": 0}, "all_slaves_active", 0),
        ({"allSlavesActive": 1}, "all_slaves_active", 1),
        ({"mode": "balance-tlb", "tlbDynamicLb": 0}, "tlb_dynamic_lb", 0),
        ({"mode": "balance-alb", "tlbDynamicLb": 1}, "tlb_dynamic_lb", 1),
        ({"updelay": 200}, "updelay", 200),
        ({"downdelay": 300}, "downdelay", 300),
        ({"peerNotifyDelay": 100}, "peer_notif_delay", 100),
        ({"primary": "net2", "primaryReselect": "better"}, "primary_reselect", 1),
        ({"primary": "net2", "primaryReselect": "failure"}, "primary_reselect", 2),
        ({"mode": "802.3ad", "lacpRate": "fast"}, "ad_lacp_rate", 1),
        ({"mode": "802.3ad", "lacpRate": 0}, "ad_lacp_rate", 0),
        ({"mode": "802.3ad", "adSelect": "bandwidth"}, "ad_select", 1),
        ({"mode": "802.3ad", "adSelect": "count"}, "ad_select", 2),
        ({"mode": "802.3ad", "minLinks": 2}, "min_links", 2),
        ({"numGratArp": 3}, "num_peer_notif", 3),
        ({"numUnsolNa": 4}, "num_peer_notif", 4),
        ({"numGratArp": 5, "numUnsolNa": 5}, "num_peer_notif", 5),
        ({"miimon": DROP, "arpInterval": 100, "arpIpTarget": ["192.0.2.1"]}, "arp_interval", 100),
        (
            {"miimon": DROP, "arpInterval": 100, "arpIpTarget": "192.0.2.1, 192.0.2.2"},
            "arp_ip_target",
            ("192.0.2.1", "192.0.2.2"),
        ),
        (
            {
                "miimon": DROP,
                "arpInterval": 100,
                "arpIpTarget": ["192.0.2.1"],
                "arpValidate": "filter_backup",
            },
            "arp_validate",
            6,
        ),
        (
            {"miimon": DROP, "arpInterval": 100, "arpIpTarget": ["192.0.2.1"], "arpAllTargets": "all"},
            "arp_all_targets",
            1,
        ),
    ],
)
def test_options(extra, attr, want):
    opts = p(base(**extra)).options
    assert getattr(opts, attr) == want
    assert opts.configured()[attr] == want


@pytest.mark.parametrize(
    "extra,message",
    [
        (
            {"xmitHashPolicy": "layer2+3+4"},
            "xmitHashPolicy: expected one of layer2, layer3+4, layer2+3, encap2+3, encap3+4, vlan+srcmac, "
            'got "layer2+3+4"',
        ),
        ({"allSlavesActive": 2}, "allSlavesActive: expected an integer from 0 to 1, got 2"),
        ({"mode": "balance-tlb", "tlbDynamicLb": 2}, "tlbDynamicLb: expected an integer from 0 to 1, got 2"),
        (
            {"tlbDynamicLb": 1},
            'tlbDynamicLb: only supported in balance-tlb or balance-alb mode, got mode "active-backup"',
        ),
        ({"lacpRate": "fast"}, 'lacpRate: only supported in 802.3ad mode, got mode "active-backup"'),
        (
            {"mode": "802.3ad", "lacpRate": "rapid"},
            'lacpRate: expected one of slow, fast or 0..1, got "rapid"',
        ),
        ({"adSelect": "stable"}, 'adSelect: only supported in 802.3ad mode, got mode "active-backup"'),
        (
            {"mode": "balance-xor", "primary": "net1"},
            'primary: only supported in active-backup, balance-tlb, balance-alb mode, got mode "balance-xor"',
        ),
        ({"primary": "net3"}, 'primary: expected the name of one of the links ["net1", "net2"], got "net3"'),
        ({"primaryReselect": "always"}, "primaryReselect: needs primary or links[].prio, got neither"),
        (
            {"primary": "net1", "primaryReselect": "sometimes"},
            'primaryReselect: expected one of always, better, failure, got "sometimes"',
        ),
        ({"updelay": 150}, "updelay: expected a multiple of miimon (100), got 150"),
        ({"miimon": 0, "downdelay": 200}, "downdelay: needs miimon > 0, got miimon 0"),
        ({"miimon": DROP, "peerNotifyDelay": 200}, "peerNotifyDelay: needs miimon > 0, got miimon None"),
        ({"updelay": -5}, "updelay: expected an integer from 0 to 2147483647, got -5"),
        (
            {"arpInterval": 100, "arpIpTarget": ["192.0.2.1"]},
            "arpInterval and miimon: expected only one link monitor, got arpInterval 100 and miimon 100",
        ),
        (
            {"miimon": DROP, "arpInterval": 100},
            "arpIpTarget: expected 1 to 16 IPv4 addresses (or nsIp6Target IPv6 ones) when arpInterval is "
            "set, got []",
        ),
        (
            {"miimon": DROP, "mode": "802.3ad", "arpInterval": 100, "arpIpTarget": ["192.0.2.1"]},
            'arpInterval: not supported in mode "802.3ad"',
        ),
        ({"arpValidate": "all"}, "arpValidate: needs arpInterval > 0, got arpInterval None"),
        (
            {"miimon": DROP, "arpInterval": 100, "arpIpTarget": ["192.0.2.300"]},
            'arpIpTarget[0]: expected an IPv4 address, got "192.0.2.300"',
        ),
        (
            {"miimon": DROP, "arpInterval": 100, "arpIpTarget": ["192.0.2.1"] * 17},
            "arpIpTarget: expected a list of 1 to 16 IPv4 addresses, got " + json.dumps(["192.0.2.1"] * 17),
        ),
        (
            {"numGratArp": 3, "numUnsolNa": 4},
            "numGratArp and numUnsolNa: the kernel has one counter for both, got 3 and 4",
        ),
        ({"numGratArp": 256}, "numGratArp: expected an integer from 0 to 255, got 256"),
        ({"mode": "802.3ad", "minLinks": -1}, "minLinks: expected an integer from 0 to 2147483647, got -1"),
        ({"mtu": 67}, "mtu: expected 0 (not set) or an integer from 68 to 65535, got 67"),
        ({"mtu": 1500.0}, "mtu: expected an integer from 0 to 65535, got 1500.0"),
        ({"mtu": "1500"}, 'mtu: expected an integer from 0 to 65535, got "1500"'),
        ({"linksInContainer": "true"}, 'linksInContainer: expected true or false, got "true"'),
        ({"requireDistinctPF": 1}, "requireDistinctPF: expected true or false, got 1"),
        ({"links": [{"name": "net1"}]}, 'links: expected at least 2 links to bond, got ["net1"]'),
        ({"links": DROP}, "links: expected at least 2 links to bond, got []"),
        (
            {"links": ["net1", "net2"]},
            'links[0]: expected an object like {"name": "net1"} or {"pciAddress": "0000:03:02.0"}, '
            'got "net1"',
        ),
        (
            {"links": {"name": "net1"}},
            'links: expected a list of objects like {"name": "net1"}, got {"name": "net1"}',
        ),
        (
            {"links": [{"name": "net1"}, {"name": 7}]},
            "links[1].name: expected an interface name (1-15 chars, no '/', ':' or spaces), got 7",
        ),
        (
            {"links": [{"name": "net1"}, {"name": "a-very-long-name0"}]},
            "links[1].name: expected an interface name (1-15 chars, no '/', ':' or spaces), "
            'got "a-very-long-name0"',
        ),
        (
            {"links": [{"name": "net1"}, {"ifname": "net2"}]},
            'links[1]: expected an object with "name" or "pciAddress", got {"ifname": "net2"}',
        ),
        (
            {"links": [{"name": "net1"}, {"name": "net1"}]},
            'links: expected distinct link names, got ["net1"]',
        ),
        (
            {"links": [{"name": "net1"}, {"pciAddress": "03:02.0"}]},
            'links[1].pciAddress: expected a PCI address like "0000:03:02.0", got "03:02.0"',
        ),
        ({"deviceID": "zz"}, 'deviceID: expected a PCI address like "0000:03:02.0", got "zz"'),
        (
            {"ipam": {"type": "/usr/bin/evil"}},
            IPAM_TYPE + '"/usr/bin/evil"',
        ),
        (
            {"ipam": {"type": "..host-local"}},
            IPAM_TYPE + '"..host-local"',
        ),
        ({"ipam": {"type": "bond"}}, 'ipam.type: "bond" is not a suitable IPAM type'),
        (
            {"ipam": {"subnet": "10.0.0.0/24"}},
            "ipam.type: expected the name of an IPAM plugin in CNI_PATH, got nothing (field missing)",
        ),
        ({"ipam": "host-local"}, 'ipam: expected an object, got "host-local"'),
        ({"dns": {"nameservers": "1.1.1.1"}}, 'dns.nameservers: expected a list of strings, got "1.1.1.1"'),
        ({"prevResult": []}, "prevResult: expected an object, got []"),
        (
            {"name": "-bad"},
            "name: expected a network name (alphanumeric, then alphanumerics, '_', '.', '-'), got \"-bad\"",
        ),
        ({"cniVersion": 1}, "cniVersion: expected a string, got 1"),
    ],
)
def test_errors(extra, message):
    e = err(base(**extra))
    assert e.code == errors.INVALID_CONFIG
    assert e.msg == message


def test_missing_name_is_upstream_message():
    e = err(base(name=DROP))
    assert (e.code, e.msg) == (7, "missing network name")


@pytest.mark.parametrize("version", ["", "0.1.0", "0.2.0", "2.0.0"])
def test_unsupported_version(version):
    e = err(base(cniVersion=version))
    assert e.code == errors.INCOMPATIBLE_VERSION and e.msg == "incompatible CNI versions"
    assert f'"{version}"' in e.details


@pytest.mark.parametrize("version", config.SUPPORTED_VERSIONS)
def test_supported_versions(version):
    assert p(base(cniVersion=version)).cni_version == version


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'"x"', b"\xff\xfe", b"null"])
def test_undecodable(raw):
    with pytest.raises(CniError) as info:
        parse(raw)
    assert info.value.code == errors.DECODE_FAILURE


def test_keys_bind_case_insensitively_like_go():
    conf = p(base(mode=DROP, miimon=DROP, MODE="balance-xor", MiiMon="50", failovermac=2))
    assert (conf.options.mode, conf.options.miimon, conf.options.fail_over_mac) == (2, 50, 2)


def test_unknown_fields_are_tolerated():
    conf = p(base(ifname="bond0", kubernetes={"kubeconfig": "x"}, spoofchk="off"))
    assert conf.name == "bondnet"


def test_links_by_pci_and_device_id():
    conf = p(base(links=[{"name": "net1"}, {"pciAddress": "0000:03:02.0"}], deviceID="0000:03:02.1"))
    assert [(lk.path, lk.name, lk.pci) for lk in conf.links] == [
        ("links[0]", "net1", None),
        ("links[1]", None, "0000:03:02.0"),
        ("deviceID", None, "0000:03:02.1"),
    ]


def test_runtime_config_device_id_and_pci_bus_id_dedupe():
    conf = p(
        base(
            links=[{"deviceID": "0000:03:02.0"}],
            runtimeConfig={"deviceID": "0000:03:02.1"},
            pciBusID="0000:03:02.1",
            deviceID="0000:03:02.1",
        )
    )
    assert [lk.pci for lk in conf.links] == ["0000:03:02.0", "0000:03:02.1"]
    assert conf.links[1].path == "runtimeConfig.deviceID"


def test_primary_with_pci_links_is_checked_at_add_time():
    conf = p(base(links=[{"pciAddress": "0000:03:02.0"}, {"pciAddress": "0000:03:02.1"}], primary="net9"))
    assert conf.primary == "net9"


def test_defaults():
    conf = p(base(miimon=DROP))
    assert conf.options.configured() == {"mode": 1, "fail_over_mac": 0}
    assert conf.mtu is None and conf.links_in_container is False and conf.ipam_type == ""
    assert conf.require_distinct_pf is None and conf.prev_result is None  # None: the node's default


def test_empty_ipam_means_none():
    assert p(base(ipam={})).ipam_type == ""


def test_attachments_both_keys():
    att = [{"containerID": "c1", "ifname": "bond0"}]
    assert p(base(**{"cni.dev/valid-attachments": att})).valid_attachments == (("c1", "bond0"),)
    assert p(base(**{"cni.dev/attachments": att})).valid_attachments == (("c1", "bond0"),)
    assert p(base()).valid_attachments is None


def test_conf_is_frozen():
    conf = p(base())
    with pytest.raises(AttributeError):
        conf.mode = "balance-rr"  # type: ignore[misc]


def test_parse_for_del_is_lenient():
    d = parse_for_del(
        json.dumps(base(mode="bogus", ipam={"type": "host-local"}, linksInContainer=True)).encode()
    )
    assert d.problem is None  # DEL does not validate: it deletes what the record and the config name
    assert d.ipam_type == "host-local" and d.links_in_container


def test_parse_for_del_never_execs_a_path():
    assert parse_for_del(json.dumps(base(ipam={"type": "../../bin/sh"})).encode()).ipam_type == ""


def test_parse_for_del_garbage():
    d = parse_for_del(b"\x00garbage")
    assert d.problem.code == errors.DECODE_FAILURE and d.ipam_type == ""


@pytest.mark.parametrize("key", ["runtimeConfig", "args"])
@pytest.mark.parametrize("value", [False, 1, "x", []])
def test_runtime_config_and_args_must_be_objects(key, value):
    """Handed on to IPAM, where host-local answers a bool with code 999 (found by test_fuzz_add)."""
    with pytest.raises(CniError) as err:
        p(base(**{key: value}))
    assert err.value.code == 7 and key in err.value.msg


def test_runtime_config_and_args_may_be_objects_or_null():
    assert p(base(runtimeConfig={"deviceID": "0000:3b:02.0"}, args={"cni": {}}))
    assert p(base(runtimeConfig=None, args=None))
