"""Results per cniVersion, IPAM/prevResult normalisation, DNS merge."""

import pytest

from bondcni import result
from bondcni.errors import CniError

INTERNAL = {
    "interfaces": [
        {"name": "bond0", "mac": "02:00:00:00:00:01", "mtu": 1500, "sandbox": "/var/run/netns/p"},
        {
            "name": "net1",
            "mac": "02:00:00:00:00:01",
            "mtu": 1500,
            "sandbox": "/var/run/netns/p",
            "pciID": "0000:03:02.0",
        },
    ],
    "ips": [
        {"address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 0},
        {"address": "2001:db8::5/64", "interface": 0},
    ],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1", "mtu": 1400}],
    "dns": {"nameservers": ["192.0.2.53"]},
}


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1", "0.4.0"])
def test_old_versions_have_ip_version_and_plain_interfaces(version):
    out = result.convert(INTERNAL, version)
    assert out["cniVersion"] == version
    assert out["ips"] == [
        {"version": "4", "interface": 0, "address": "10.1.0.5/24", "gateway": "10.1.0.1"},
        {"version": "6", "interface": 0, "address": "2001:db8::5/64"},
    ]
    assert out["interfaces"][1] == {"name": "net1", "mac": "02:00:00:00:00:01", "sandbox": "/var/run/netns/p"}
    assert out["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}]
    assert out["dns"] == {"nameservers": ["192.0.2.53"]}


def test_1_0_0_drops_version_and_new_fields():
    out = result.convert(INTERNAL, "1.0.0")
    assert all("version" not in ip for ip in out["ips"])
    assert out["interfaces"][0] == {
        "name": "bond0",
        "mac": "02:00:00:00:00:01",
        "sandbox": "/var/run/netns/p",
    }
    assert out["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}]


def test_1_1_0_keeps_mtu_and_pci_id():
    out = result.convert(INTERNAL, "1.1.0")
    assert out["interfaces"][0]["mtu"] == 1500 and out["interfaces"][1]["pciID"] == "0000:03:02.0"
    assert out["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.1.0.1", "mtu": 1400}]


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0", "1.1.0"])
def test_round_trip_is_lossless_for_ips(version):
    back = result.normalize(result.convert(INTERNAL, version))
    assert back["ips"] == INTERNAL["ips"]


def test_no_ips_no_key():
    out = result.convert({"interfaces": [{"name": "bond0", "mac": "m", "sandbox": "s"}]}, "1.0.0")
    assert "ips" not in out and out["interfaces"] and out["dns"] == {}


def test_normalize_ipam_040_result():
    got = result.normalize({"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.0.0.2/24"}]})
    assert got["ips"] == [{"address": "10.0.0.2/24"}] and got["interfaces"] == []


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"ips": [{"address": "not-an-ip"}]},
        {"ips": [{}]},
        {"routes": [{"gw": "1.1.1.1"}]},
        {"interfaces": [{"mac": "x"}]},
        {"dns": "x"},
    ],
)
def test_normalize_rejects(bad):
    with pytest.raises(CniError) as info:
        result.normalize(bad, "IPAM result")
    assert info.value.code == 103


def test_merge_dns_keeps_ipam_and_adds_config():
    got = result.merge_dns(
        {"nameservers": ["10.0.0.53"], "domain": "ipam.example"},
        {"nameservers": ["10.0.0.53", "192.0.2.53"], "domain": "conf.example", "search": ["a.example"]},
    )
    assert got == {
        "nameservers": ["10.0.0.53", "192.0.2.53"],
        "domain": "ipam.example",
        "search": ["a.example"],
    }


def test_merge_dns_config_only():
    assert result.merge_dns({}, {"domain": "d"}) == {"domain": "d"}
