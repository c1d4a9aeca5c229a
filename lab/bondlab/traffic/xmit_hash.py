"""The bonding driver's transmit hash, as Linux 6.12 computes it (drivers/net/bonding/bond_main.c), in pure
Python: which slave a balance-xor or 802.3ad bond puts a frame on, from the frame's addresses.

    bond_xmit_3ad_xor_slave_get():  slave = usable[bond_xmit_hash(skb) % len(usable)]

`usable` is the bond's slaves in its slave-list order (the order they were enslaved) that can transmit
(bond_update_slave_arr: MII up and active; in 802.3ad only the ports of the active aggregator).

Per policy (__bond_xmit_hash; the formulas of Documentation/networking/bonding.rst):
- layer2:               eth = dst MAC[5] ^ src MAC[5] ^ ethertype (bond_eth_hash), not folded;
- layer2+3, encap2+3:   fold(eth ^ src IP ^ dst IP);
- layer3+4, encap3+4:   fold(ports ^ src IP ^ dst IP) >> 1 (the lowest bit dropped: "the common even
                        ports pattern"); without ports (not TCP/UDP, a fragment) the ports word is 0;
- vlan+srcmac:          VLAN ^ src MAC[0:3] ^ src MAC[3:6] (24-bit numbers), not folded;
fold(h) = h ^ (h >> 16), then h ^ (h >> 8). An address and the ports word enter as the kernel loads them:
the header's bytes (network order) read as a host-order u32 (little-endian on x86 and in the UML lab VM);
an IPv6 address is the XOR of its four words (ipv6_addr_hash). A frame that is not IP (ARP) hashes as
layer2 under every policy but vlan+srcmac.

What is not modelled, on purpose:
- encap3+4 takes skb->hash when the skb carries an L4 hash (bond_xmit_hash: skb->l4_hash): the random
  sk_txhash of a connected socket (TCP, a connect()ed UDP socket) stamped by skb_set_owner_w. Such traffic
  cannot be predicted from its addresses; the lab's probes are unconnected UDP and carry none.
- encap2+3/encap3+4 read the headers with the flow dissector, which opens tunnels (GRE, IP-in-IP, ...) and
  hashes the inner headers; on plain traffic they equal layer2+3/layer3+4, so no traffic the lab sends
  tells them apart.
- layer3+4 hashes an ICMP echo's id in place of ports, and an ICMP error's embedded header.
"""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass

POLICIES = ("layer2", "layer2+3", "layer3+4", "encap2+3", "encap3+4", "vlan+srcmac")
ETH_P_IP, ETH_P_IPV6, ETH_P_ARP = 0x0800, 0x86DD, 0x0806
MASK = 0xFFFFFFFF


@dataclass(frozen=True)
class Frame:
    """What the hash reads of one frame the bond sends."""

    src_mac: str
    dst_mac: str
    src_ip: str = ""  # "" for a frame that is not IP
    dst_ip: str = ""
    src_port: int = 0
    dst_port: int = 0
    ports: bool = True  # TCP/UDP and not a fragment: the ports are read (layer3+4)
    vlan: int = 0  # the skb's VLAN tag (vlan+srcmac)

    @property
    def ethertype(self) -> int:
        if not self.src_ip:
            return ETH_P_ARP
        return ETH_P_IPV6 if ipaddress.ip_address(self.src_ip).version == 6 else ETH_P_IP


@dataclass(frozen=True)
class BondView:
    """What the hash reads of the bond: its policy and its slaves in its own order, each usable or not
    (bond_update_slave_arr: MII up, active, in the active aggregator)."""

    bond: str
    policy: str
    slaves: tuple  # ((name, usable), ...)

    @property
    def usable(self) -> list:
        return [name for name, ok in self.slaves if ok]


def _mac(text: str) -> bytes:
    raw = bytes.fromhex(text.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {text!r}")
    return raw


def _word(raw: bytes, order: str) -> int:
    """Header bytes as the kernel loads them into a u32 (an IPv6 address: its four words XORed)."""
    out = 0
    for i in range(0, len(raw), 4):
        out ^= int.from_bytes(raw[i : i + 4], order)
    return out


def fold(value: int) -> int:
    value ^= value >> 16
    return value ^ (value >> 8)


def eth_hash(frame: Frame) -> int:
    """bond_eth_hash: the last bytes of both MACs and the ethertype (as a number)."""
    return _mac(frame.dst_mac)[5] ^ _mac(frame.src_mac)[5] ^ frame.ethertype


def xmit_hash(policy: str, frame: Frame, order: str = sys.byteorder) -> int:
    """bond_xmit_hash for `frame` under `policy` (`order`: the byte order of the kernel's CPU)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown xmit_hash_policy {policy!r} (one of {', '.join(POLICIES)})")
    if policy == "vlan+srcmac":
        src = _mac(frame.src_mac)
        return frame.vlan ^ int.from_bytes(src[:3], "big") ^ int.from_bytes(src[3:], "big")
    if policy == "layer2" or not frame.src_ip:
        return eth_hash(frame)
    if policy in ("layer2+3", "encap2+3"):
        value = eth_hash(frame)
    elif frame.ports:
        value = _word(frame.src_port.to_bytes(2, "big") + frame.dst_port.to_bytes(2, "big"), order)
    else:
        value = 0
    src, dst = (ipaddress.ip_address(ip).packed for ip in (frame.src_ip, frame.dst_ip))
    value = fold((value ^ _word(src, order) ^ _word(dst, order)) & MASK)
    return value >> 1 if policy in ("layer3+4", "encap3+4") else value


def slave_index(policy: str, frame: Frame, count: int, order: str = sys.byteorder) -> int:
    """The index into the usable slaves (bond_xmit_3ad_xor_slave_get: hash % count)."""
    if count < 1:
        raise ValueError("no usable slave: the bond drops the frame")
    return xmit_hash(policy, frame, order) % count


def predict(policy: str, frame: Frame, usable: list, order: str = sys.byteorder) -> str:
    """The slave (of `usable`, in the bond's slave order) that carries `frame`."""
    return usable[slave_index(policy, frame, len(usable), order)]
