"""CNI results: one internal shape (the 1.x result) and conversion to each supported version.

Conversion follows containernetworking/cni pkg/types/{040,100} and Documentation/spec-upgrades.md:
1.x -> 0.3.x/0.4.0 keeps interfaces' name/mac/sandbox, adds ips[].version and keeps routes' dst/gw;
0.3.x/0.4.0 -> 1.x drops ips[].version.  1.1.0 adds interface mtu/socketPath/pciID and route mtu/advmss/...
"""

from __future__ import annotations

from . import inet
from .errors import IPAM_RESULT, CniError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping, Optional

V1_ROUTE_KEYS = ("dst", "gw", "mtu", "advmss", "priority", "table", "scope")
V1_IFACE_KEYS = ("name", "mac", "mtu", "sandbox", "socketPath", "pciID")
V1_0_IFACE_KEYS = ("name", "mac", "sandbox")
OLD_IFACE_KEYS = ("name", "mac", "sandbox")


def ip_version(cidr: str, code: int = IPAM_RESULT) -> str:
    try:
        return str(inet.parse_cidr(cidr)[0])
    except ValueError:
        raise CniError(code, f"ips[].address: expected an address in CIDR form, got {cidr!r}") from None


def normalize(obj: Any, where: str = "result", code: int = IPAM_RESULT) -> dict:
    """Any supported-version result (IPAM's abbreviated one, or a prevResult) -> the internal 1.x shape.

    Every address, gateway and route is checked here, so nothing later trips over a malformed one.
    """

    def _err(msg: str) -> CniError:
        return CniError(code, msg)

    if not isinstance(obj, dict):
        raise _err(f"{where}: expected a JSON object, got {type(obj).__name__}")
    out: dict = {}
    ifaces = obj.get("interfaces") or []
    if not isinstance(ifaces, list) or not all(isinstance(i, dict) and "name" in i for i in ifaces):
        raise _err(f"{where}.interfaces: expected a list of objects with a name, got {ifaces!r}")
    out["interfaces"] = [dict(i) for i in ifaces]
    ips = []
    for n, ip in enumerate(obj.get("ips") or []):
        if not isinstance(ip, dict) or not isinstance(ip.get("address"), str):
            raise _err(f"{where}.ips[{n}]: expected an object with an address, got {ip!r}")
        ip_version(ip["address"], code)
        if ip.get("gateway") is not None and not _is_ip(ip["gateway"]):
            raise _err(f"{where}.ips[{n}].gateway: expected an IP address, got {ip['gateway']!r}")
        if "interface" in ip and not (
            isinstance(ip["interface"], int) and not isinstance(ip["interface"], bool)
        ):
            raise _err(f"{where}.ips[{n}].interface: expected an index, got {ip['interface']!r}")
        entry = {k: v for k, v in ip.items() if k != "version"}
        ips.append(entry)
    out["ips"] = ips
    routes = []
    for n, rt in enumerate(obj.get("routes") or []):
        if not isinstance(rt, dict) or not _is_cidr(rt.get("dst")):
            raise _err(f"{where}.routes[{n}]: expected an object with a dst prefix, got {rt!r}")
        if rt.get("gw") is not None and not _is_ip(rt["gw"]):
            raise _err(f"{where}.routes[{n}].gw: expected an IP address, got {rt['gw']!r}")
        routes.append(dict(rt))
    out["routes"] = routes
    dns = obj.get("dns") or {}
    if not isinstance(dns, dict):
        raise _err(f"{where}.dns: expected an object, got {dns!r}")
    for key in ("nameservers", "search", "options"):
        value = dns.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(x, str) for x in value)):
            raise _err(f"{where}.dns.{key}: expected a list of strings, got {value!r}")
    if dns.get("domain") is not None and not isinstance(dns["domain"], str):
        raise _err(f"{where}.dns.domain: expected a string, got {dns['domain']!r}")
    out["dns"] = dict(dns)
    return out


def _parses(parse, value: object) -> bool:
    try:
        parse(value)
        return True
    except ValueError:
        return False


def _is_ip(value: object) -> bool:
    return _parses(inet.parse_ip, value)


def _is_cidr(value: object) -> bool:
    return _parses(inet.parse_cidr, value)


def merge_dns_all(*sources: Mapping[str, Any]) -> dict:
    """Several DNS blocks merged in order: the first domain wins; lists are unioned, first source first."""
    out: dict = {}
    for dns in sources:
        out = merge_dns(out, dns)
    return out


def merge_dns(ipam_dns: Mapping[str, Any], conf_dns: Mapping[str, Any]) -> dict:
    """IPAM's DNS is kept; the config's dns fills in and adds (lists are unioned, IPAM's entries first)."""
    out = dict(ipam_dns)
    for key in ("nameservers", "search", "options"):
        merged = list(out.get(key) or [])
        for item in conf_dns.get(key) or []:
            if item not in merged:
                merged.append(item)
        if merged:
            out[key] = merged
    if not out.get("domain") and conf_dns.get("domain"):
        out["domain"] = conf_dns["domain"]
    return out


def convert(result: Mapping[str, Any], version: str) -> dict:
    """The internal 1.x result printed in the requested version."""
    out: dict = {"cniVersion": version}
    old = not version.startswith("1.")
    if version == "1.1.0":
        iface_keys: tuple = V1_IFACE_KEYS
    else:
        iface_keys = V1_0_IFACE_KEYS if not old else OLD_IFACE_KEYS
    ifaces = [
        {k: i[k] for k in iface_keys if i.get(k) not in (None, "")} for i in result.get("interfaces", [])
    ]
    if ifaces:
        out["interfaces"] = ifaces
    ips = []
    for ip in result.get("ips", []):
        entry: dict = {}
        if old:
            entry["version"] = ip_version(ip["address"])
        for key in ("interface", "address", "gateway"):
            if ip.get(key) is not None:
                entry[key] = ip[key]
        ips.append(entry)
    if ips:
        out["ips"] = ips
    route_keys = V1_ROUTE_KEYS if version == "1.1.0" else ("dst", "gw")
    routes = [{k: r[k] for k in route_keys if r.get(k) is not None} for r in result.get("routes", [])]
    if routes:
        out["routes"] = routes
    out["dns"] = dict(result.get("dns") or {})
    return out


def interface(
    name: str, mac: str, sandbox: str, mtu: Optional[int] = None, pci: Optional[str] = None
) -> dict:
    out = {"name": name, "mac": mac, "sandbox": sandbox}
    if mtu:
        out["mtu"] = mtu
    if pci:
        out["pciID"] = pci
    return out
