"""`packet:` templates of a traffic flow: a scapy expression such as `IP(tos=0x10)/UDP()`, read without eval.

The text is parsed with `ast` and only this shape is accepted: layers joined by `/`, each a call of a layer
class from LAYERS with keyword arguments whose values are literals (`ast.literal_eval`: numbers, strings,
tuples, lists). Nothing is looked up by name outside LAYERS and nothing is called but those classes, so a
scenario file cannot run code. The layers must read `[Dot1Q(...)/](IP(...)|IPv6(...))/UDP()`: the lab owns
the Ethernet header (`macs:`), the addresses, the ports, the lengths and checksums (FIELDS_OF_THE_LAB), and
the probe's payload after UDP; a template sets the rest (TOS/traffic class, TTL, flow label, DF, 802.1Q
priority, ...). parse() also builds the frame once with scapy, so a value scapy cannot encode is an error
when the file loads, not in the middle of a run.

build() makes the bytes of one session's frame from a template (scapy, once per session before the run);
the probe helper stamps sequence and send time into them (traffic.wire.stamp).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

LAYERS = ("Dot1Q", "IP", "IPv6", "UDP")
FIELDS_OF_THE_LAB = {
    "Dot1Q": ("vlan", "type"),
    "IP": ("src", "dst", "proto", "len", "chksum", "ihl"),
    "IPv6": ("src", "dst", "nh", "plen"),
    "UDP": ("sport", "dport", "len", "chksum"),
}
WHY = {
    "vlan": "the flow's `vlan:` sets it",
    "src": "the lab sets the addresses",
    "dst": "the lab sets the addresses",
    "sport": "the lab sets the ports (`sessions:`)",
    "dport": "the lab sets the ports (the probes' port)",
}


class TemplateError(ValueError):
    """A `packet:` expression the lab cannot use; the message says why."""


@dataclass(frozen=True)
class Template:
    text: str
    layers: tuple  # ((layer name, ((field, value), ...)), ...) in order

    @property
    def family(self) -> str:
        return "ipv6" if any(name == "IPv6" for name, _ in self.layers) else "ipv4"

    @property
    def tagged(self) -> bool:
        return any(name == "Dot1Q" for name, _ in self.layers)

    def fields(self, layer: str) -> dict:
        return next((dict(kw) for name, kw in self.layers if name == layer), {})


PLAIN = {  # what a flow without `packet:` sends when it needs frames of its own (macs, vlan)
    "ipv4": Template("IP()/UDP()", (("IP", ()), ("UDP", ()))),
    "ipv6": Template("IPv6()/UDP()", (("IPv6", ()), ("UDP", ()))),
}


def parse(text: str) -> Template:
    """A `packet:` expression -> Template, or TemplateError."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise TemplateError(f"not an expression: {error.msg}") from None
    layers = tuple(_layer(node) for node in _chain(tree.body))
    names = [name for name, _ in layers]
    body = names[1:] if names[:1] == ["Dot1Q"] else names
    if body not in (["IP", "UDP"], ["IPv6", "UDP"]):
        raise TemplateError(
            f"layers {'/'.join(names)}: expected [Dot1Q()/]IP()/UDP() or [Dot1Q()/]IPv6()/UDP()"
        )
    template = Template(text.strip(), layers)
    try:
        dummy = ("02:00:00:00:00:01", "02:00:00:00:00:02", *_DUMMY[template.family], 1, 2, b"x")
        build(template, *dummy, vlan=1 if template.tagged else 0)
    except Exception as error:  # scapy says what it cannot encode in many ways (struct, TypeError, ...)
        raise TemplateError(f"scapy cannot build it: {type(error).__name__}: {error}") from None
    return template


_DUMMY = {"ipv4": ("192.0.2.1", "192.0.2.2"), "ipv6": ("2001:db8::1", "2001:db8::2")}


def _chain(node: ast.AST) -> list:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _chain(node.left) + _chain(node.right)
    return [node]


def _layer(node: ast.AST) -> tuple:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        raise TemplateError(f"{ast.unparse(node)!r}: expected a layer call such as IP(tos=0x10), joined by /")
    name = node.func.id
    if name not in LAYERS:
        hint = " (the lab sets the Ethernet header; `macs: N` for source MACs)" if name == "Ether" else ""
        raise TemplateError(f"{name}: not a layer a template may use ({', '.join(LAYERS)}){hint}")
    if node.args or any(k.arg is None for k in node.keywords):
        raise TemplateError(f"{name}(...): keyword arguments only, e.g. {name}(field=value)")
    known = {f.name for f in _class(name).fields_desc}
    fields = []
    for keyword in node.keywords:
        if keyword.arg not in known:
            raise TemplateError(f"{name} has no field {keyword.arg!r} (fields: {', '.join(sorted(known))})")
        if keyword.arg in FIELDS_OF_THE_LAB[name]:
            why = WHY.get(keyword.arg, "the lab computes it")
            raise TemplateError(f"{name}({keyword.arg}=...): not settable in a template: {why}")
        try:
            value = ast.literal_eval(keyword.value)
        except ValueError:
            raise TemplateError(
                f"{name}({keyword.arg}={ast.unparse(keyword.value)}): literals only (numbers, strings)"
            ) from None
        fields.append((keyword.arg, value))
    return name, tuple(fields)


def _class(name: str):
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Dot1Q

    return {"Dot1Q": Dot1Q, "IP": IP, "IPv6": IPv6, "UDP": UDP}[name]


def build(
    template: Template,
    src_mac: str,
    dst_mac: str,
    src_ip: str,
    dst_ip: str,
    sport: int,
    dport: int,
    payload: bytes,
    vlan: int = 0,
) -> bytes:
    """One session's frame: Ethernet (the lab's MACs), an 802.1Q tag when `vlan` (with the template's Dot1Q
    fields), then the template's IP or IPv6 and UDP with the lab's addresses and ports, then `payload`."""
    from scapy.layers.l2 import Dot1Q, Ether

    frame = Ether(src=src_mac, dst=dst_mac)
    if vlan:
        frame = frame / Dot1Q(vlan=vlan, **template.fields("Dot1Q"))
    ip = "IPv6" if template.family == "ipv6" else "IP"
    frame = frame / _class(ip)(src=src_ip, dst=dst_ip, **template.fields(ip))
    return bytes(frame / _class("UDP")(sport=sport, dport=dport, **template.fields("UDP")) / payload)
