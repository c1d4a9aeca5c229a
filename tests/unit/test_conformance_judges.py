"""The conformance suite's judges on recorded plugin output (tests/unit/conformance_fixtures) and on
hand-made invalid examples, per cniVersion."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from bondlab.conformance import judges

RECORDED = json.loads((Path(__file__).parent / "conformance_fixtures" / "recorded.json").read_text())


def add_problems(key: str, result=None) -> list:
    entry = RECORDED[key]
    return judges.add_result_problems(
        entry["stdout"] if result is None else result, key.rsplit("-", 1)[1], entry["ifname"], entry["netns"]
    )


@pytest.mark.parametrize("version", judges.VERSIONS)
def test_our_recorded_results_are_valid(version):
    assert add_problems(f"bond-add-{version}") == []


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1", "0.4.0"])
def test_upstream_0x_results_lack_the_ip_version(version):
    assert add_problems(f"bond-upstream-add-{version}") == [
        f"ips[0].version None: a {version} result says '4'"
    ]


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0"])
def test_upstream_1x_results_are_valid(version):
    assert add_problems(f"bond-upstream-add-{version}") == []


def broken(mutate, key: str = "bond-add-1.0.0") -> list:
    result = copy.deepcopy(RECORDED[key]["stdout"])
    mutate(result)
    return add_problems(key, result)


@pytest.mark.parametrize(
    "mutate,problem",
    [
        (lambda r: r.update(cniVersion="0.4.0"), "cniVersion '0.4.0', the config's is '1.0.0'"),
        (lambda r: r.pop("interfaces"), "no interfaces list"),
        (lambda r: r["interfaces"][0].update(name="eth0"), "no interface named CNI_IFNAME 'bond0'"),
        (lambda r: r["interfaces"][0].update(sandbox=""), "bond0.sandbox '', not CNI_NETNS"),
        (lambda r: r["interfaces"][0].update(mac="02:00"), "interfaces[0].mac '02:00' is not a MAC address"),
        (lambda r: r["interfaces"][0].update(mtu=-1), "interfaces[0].mtu -1 is not a uint"),
        (lambda r: r["ips"][0].update(interface=9), "ips[0].interface 9 is not an index into interfaces"),
        (lambda r: r["ips"][0].update(interface=True), "ips[0].interface True is not an index"),
        (lambda r: r["ips"][0].update(interface=1), "ips[0].interface points at 'net1', not 'bond0'"),
        (lambda r: r["ips"][0].update(address="10.56.217.2"), "ips[0].address '10.56.217.2' has no prefix"),
        (lambda r: r["ips"][0].update(address="10.56.217.300/24"), "is not an IP in CIDR notation"),
        (lambda r: r["ips"][0].update(gateway="gw"), "ips[0].gateway 'gw' is not an IP address"),
        (lambda r: r["ips"][0].update(version="4"), "ips[0].version present: removed from results in 1.0.0"),
        (lambda r: r.update(routes=[{"gw": "10.56.217.1"}]), "routes[0].dst None is not an IP"),
        (lambda r: r.update(dns=[]), "dns is not an object"),
        (lambda r: r.update(dns={"nameservers": "192.0.2.53"}), "dns.nameservers is not a list of strings"),
    ],
)
def test_invalid_results_are_caught(mutate, problem):
    found = broken(mutate)
    assert any(problem in p for p in found), found


def test_a_0x_result_with_an_ipv6_address_says_6():
    found = broken(lambda r: r["ips"][0].update(address="2001:db8::2/64", version="4"), "bond-add-0.4.0")
    assert found == ["ips[0].version '4': a 0.4.0 result says '6'"]


def test_not_an_object():
    assert judges.add_result_problems(None, "1.0.0", "bond0", "/run/netns/x") == [
        "ADD printed no JSON object"
    ]


def test_our_recorded_errors_carry_the_spec_codes():
    assert judges.error_problems(1, RECORDED["bond-error-invalid-mode"]["stdout"], (7,)) == []
    assert judges.error_problems(1, RECORDED["bond-error-not-json"]["stdout"], (6,)) == []


def test_upstream_invalid_mode_is_999():
    entry = RECORDED["bond-upstream-error-invalid-mode"]
    assert judges.error_problems(entry["rc"], entry["stdout"], (7,)) == [
        "error code 999, the spec's code here is 7 (msg 'bonding mode (no-such-mode) is not supported')"
    ]
    assert judges.error_problems(entry["rc"], entry["stdout"]) == []  # 100+ is the plugin's to use


@pytest.mark.parametrize(
    "rc,payload,problem",
    [
        (0, {"code": 7, "msg": "x"}, "exit status 0 on an error"),
        (1, None, "stdout holds no error object"),
        (1, "text", "stdout holds no error object"),
        (1, {"code": "7", "msg": "x"}, "error code '7' is not a number"),
        (1, {"code": True, "msg": "x"}, "error code True is not a number"),
        (1, {"code": 7}, "error without a msg"),
        (1, {"code": 7, "msg": ""}, "error without a msg"),
    ],
)
def test_invalid_errors_are_caught(rc, payload, problem):
    assert any(problem in p for p in judges.error_problems(rc, payload)), judges.error_problems(rc, payload)


def test_version_answers():
    assert judges.version_problems(RECORDED["bond-version-0.4.0"]["stdout"], "0.4.0") == []
    assert judges.version_problems(RECORDED["bond-upstream-version-0.4.0"]["stdout"], "0.4.0") == [
        "cniVersion '1.1.0', the spec says the value sent ('0.4.0')"
    ]
    assert judges.version_problems({"cniVersion": "1.0.0"}, "1.0.0") == [
        "supportedVersions None is not a list of versions"
    ]
    assert judges.version_problems({"cniVersion": "1.0.0", "supportedVersions": ["1.0"]}, "1.0.0") == [
        "supportedVersions ['1.0'] holds something that is not a version"
    ]
    assert judges.version_problems(None, "1.0.0") == ["VERSION printed no JSON object"]
