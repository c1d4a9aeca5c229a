"""IP addresses and prefixes through inet_pton/inet_ntop (the ipaddress module costs ~12 modules per exec).

Accepts what Go's net.ParseIP/ParseCIDR accept for dotted-quad IPv4 and RFC 4291 IPv6 (no zone ids).
"""

from __future__ import annotations

from _socket import AF_INET, AF_INET6, inet_ntop, inet_pton


def parse_ip(text: object) -> tuple:
    """'192.0.2.1' -> (4, packed bytes); ValueError otherwise."""
    if isinstance(text, str) and text.isascii() and "%" not in text:
        for family, version in ((AF_INET, 4), (AF_INET6, 6)):
            try:
                return version, inet_pton(family, text)
            except OSError:
                continue
    raise ValueError(f"not an IP address: {text!r}")


def ip_version(text: object) -> int:
    return parse_ip(text)[0]


def normal_ip(text: object) -> str:
    version, packed = parse_ip(text)
    return inet_ntop(AF_INET if version == 4 else AF_INET6, packed)


def parse_cidr(text: object) -> tuple:
    """'10.0.0.5/24' -> (version, packed address, prefix length); ValueError otherwise."""
    if not isinstance(text, str) or text.count("/") != 1:
        raise ValueError(f"not an address/prefix: {text!r}")
    addr, _, plen = text.partition("/")
    version, packed = parse_ip(addr)
    if not (plen.isascii() and plen.isdigit()) or len(plen) > 3 or int(plen) > len(packed) * 8:
        raise ValueError(f"not an address/prefix: {text!r}")
    return version, packed, int(plen)


def normal_interface(text: object) -> str:
    """An address with its prefix, normalized: '2001:DB8::0001/64' -> '2001:db8::1/64'."""
    version, packed, plen = parse_cidr(text)
    return f"{inet_ntop(AF_INET if version == 4 else AF_INET6, packed)}/{plen}"


def normal_network(text: object) -> str:
    """A prefix with host bits cleared: '10.0.0.5/24' -> '10.0.0.0/24'."""
    version, packed, plen = parse_cidr(text)
    bits = len(packed) * 8
    value = int.from_bytes(packed, "big") >> (bits - plen) << (bits - plen) if plen else 0
    return f"{inet_ntop(AF_INET if version == 4 else AF_INET6, value.to_bytes(len(packed), 'big'))}/{plen}"


def in_prefix(text: str, prefix: str) -> bool:
    """Whether address `text` (no prefix length) lies inside `prefix`."""
    version, packed = parse_ip(text)
    pversion, _, plen = parse_cidr(prefix)
    return version == pversion and normal_network(f"{text}/{plen}") == normal_network(prefix)
