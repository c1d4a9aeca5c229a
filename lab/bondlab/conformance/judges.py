"""Pure judges of what a plugin printed: the ADD result per cniVersion, the VERSION answer and the error
object (CNI spec, Section 5). Each returns the list of problems found; an empty list is a pass."""

from __future__ import annotations

import ipaddress
import re

VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


def _uint(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def error_problems(rc: int, payload, codes: tuple = ()) -> list:
    """An error: non-zero exit and, on stdout, an object with a numeric `code` (one of `codes` if given)
    and a `msg` (Section 2 "Errors", Section 5 "Error")."""
    problems = []
    if rc == 0:
        problems.append("exit status 0 on an error")
    if not isinstance(payload, dict):
        return problems + ["stdout holds no error object (JSON with code and msg)"]
    code = payload.get("code")
    if not _uint(code):
        problems.append(f"error code {code!r} is not a number")
    elif codes and code not in codes:
        want = " or ".join(str(c) for c in codes)
        problems.append(f"error code {code}, the spec's code here is {want} (msg {payload.get('msg')!r})")
    if not isinstance(payload.get("msg"), str) or not payload.get("msg"):
        problems.append("error without a msg")
    return problems


def version_problems(payload, sent: str) -> list:
    """VERSION: `cniVersion` is the value sent, `supportedVersions` a list of versions."""
    if not isinstance(payload, dict):
        return ["VERSION printed no JSON object"]
    problems = []
    if payload.get("cniVersion") != sent:
        problems.append(f"cniVersion {payload.get('cniVersion')!r}, the spec says the value sent ({sent!r})")
    supported = payload.get("supportedVersions")
    if not isinstance(supported, list) or not supported:
        problems.append(f"supportedVersions {supported!r} is not a list of versions")
    elif not all(isinstance(v, str) and SEMVER.match(v) for v in supported):
        problems.append(f"supportedVersions {supported!r} holds something that is not a version")
    return problems


def _address(text, what: str, problems: list, cidr: bool) -> None:
    try:
        (ipaddress.ip_interface if cidr else ipaddress.ip_address)(text)
    except (TypeError, ValueError):
        problems.append(f"{what} {text!r} is not an IP {'in CIDR notation' if cidr else 'address'}")
        return
    if cidr and "/" not in text:
        problems.append(f"{what} {text!r} has no prefix length")


def _interfaces(result: dict, problems: list) -> list:
    interfaces = result.get("interfaces")
    if not isinstance(interfaces, list) or not interfaces:
        problems.append("no interfaces list")
        return []
    for index, interface in enumerate(interfaces):
        if not isinstance(interface, dict) or not isinstance(interface.get("name"), str):
            problems.append(f"interfaces[{index}] has no name")
            continue
        mac = interface.get("mac")
        if mac not in (None, "") and not (isinstance(mac, str) and MAC.match(mac)):
            problems.append(f"interfaces[{index}].mac {mac!r} is not a MAC address")
        if "mtu" in interface and not _uint(interface["mtu"]):
            problems.append(f"interfaces[{index}].mtu {interface['mtu']!r} is not a uint")
        if not isinstance(interface.get("sandbox", ""), str):
            problems.append(f"interfaces[{index}].sandbox is not a string")
    return interfaces


def _entries(result: dict, key: str, problems: list) -> list:
    """The objects of the list `key` as (name, object); not a list, or an entry not an object: a problem."""
    items = result.get(key, [])
    if not isinstance(items, list):
        problems.append(f"{key} is not a list")
        return []
    found = []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            found.append((f"{key}[{index}]", item))
        else:
            problems.append(f"{key}[{index}] is not an object")
    return found


def _prefix_and_hop(entry: dict, what: str, prefix: str, hop: str, problems: list) -> None:
    """An address in CIDR notation under `prefix` and, if set, a next hop (an address) under `hop`."""
    _address(entry.get(prefix), f"{what}.{prefix}", problems, cidr=True)
    if entry.get(hop) not in (None, ""):
        _address(entry[hop], f"{what}.{hop}", problems, cidr=False)


def _ips(result: dict, version: str, interfaces: list, ifname: str, problems: list) -> None:
    versioned = version < "1.0.0"  # 0.3.x and 0.4.0 name each address's family; 1.0.0 removed it
    for what, ip in _entries(result, "ips", problems):
        _prefix_and_hop(ip, what, "address", "gateway", problems)
        family = "6" if ":" in str(ip.get("address", "")) else "4"
        if versioned and ip.get("version") != family:
            problems.append(f"{what}.version {ip.get('version')!r}: a {version} result says {family!r}")
        if not versioned and "version" in ip:
            problems.append(f"{what}.version present: removed from results in 1.0.0")
        index = ip.get("interface")
        if not _uint(index) or index >= len(interfaces):
            problems.append(f"{what}.interface {index!r} is not an index into interfaces")
        elif interfaces[index].get("name") != ifname:
            problems.append(f"{what}.interface points at {interfaces[index].get('name')!r}, not {ifname!r}")


def _routes_and_dns(result: dict, problems: list) -> None:
    for what, route in _entries(result, "routes", problems):
        _prefix_and_hop(route, what, "dst", "gw", problems)
    dns = result.get("dns", {})
    if not isinstance(dns, dict):
        problems.append("dns is not an object")
        return
    for key in ("nameservers", "search", "options"):
        value = dns.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append(f"dns.{key} is not a list of strings")


def add_result_problems(result, version: str, ifname: str, netns: str) -> list:
    """An ADD Success result for `version`: the version sent, an interface named CNI_IFNAME in the
    sandbox CNI_NETNS, every ips[].interface an index of it, addresses and routes in CIDR notation,
    `version` in ips only before 1.0.0, dns an object of lists."""
    if not isinstance(result, dict):
        return ["ADD printed no JSON object"]
    problems = []
    if result.get("cniVersion") != version:
        problems.append(f"cniVersion {result.get('cniVersion')!r}, the config's is {version!r}")
    interfaces = _interfaces(result, problems)
    mine = [i for i in interfaces if isinstance(i, dict) and i.get("name") == ifname]
    if interfaces and not mine:
        problems.append(f"no interface named CNI_IFNAME {ifname!r}")
    elif mine and mine[0].get("sandbox") != netns:
        problems.append(f"{ifname}.sandbox {mine[0].get('sandbox')!r}, not CNI_NETNS {netns!r}")
    _ips(result, version, interfaces, ifname, problems)
    _routes_and_dns(result, problems)
    return problems
