"""The names a scenario gives things in the lab, one grammar and one parser for all of them: a peer (PEER), a
pod (POD or NAMESPACE/POD), an interface in a pod (POD/IFACE or NAMESPACE/POD/IFACE: a bond slave, or the
bond), a PF (NODE/PF), a fabric switch (SWITCH), the cable between two (SWITCH/SWITCH).

`A/B` reads two ways: the pod whose key is NAMESPACE/POD, else pod A's interface B. Which one a name means is
known only against a lab's pods, so a parsed name (`Endpoint`) carries its readings in the order they are
tried and `locate()` takes the first the lab has. The loader's name check (against the lab a scenario will
deploy) and run.names (against the deployed lab) both resolve through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

# What a name stands for where it is written: a pod ("POD/IFACE" too: its pod), one of a pod's interfaces,
# a flow's end (a peer, or a pod: its bond, or POD/IFACE), a peer, a PF, a fabric switch, a switch-to-switch
# cable.
ROLES = ("pod", "link", "end", "peer", "pf", "switch", "switchLink")

# The step arguments that hold names (scenario.schema.json), by key: what they name; `KIND.key` is one
# step kind's own reading of a key, which comes first.
ROLE_OF_KEY = {
    "macSeen.peer": "end",  # whose neighbour entry: a peer's, or another pod's (east-west)
    "active": "pod",
    "pod": "pod",
    "vf": "link",
    "link": "link",
    "links": "link",
    "pf": "pf",
    "uplink": "pf",
    "switch": "switch",
    "switchLink": "switchLink",
    "peer": "peer",
    "from": "end",
    "to": "end",
}


@dataclass(frozen=True)
class Endpoint:
    """A name as written, parsed once: its role, its (pod, interface) readings ("": the pod's bond) in the
    order they are tried, and where it was written (file:line and key path; "" when built in code)."""

    text: str
    role: str
    readings: tuple
    where: str = ""
    path: str = ""

    def __str__(self) -> str:
        return self.text

    @property
    def may_be_peer(self) -> bool:
        return self.role in ("end", "peer")


def parse(text: str, role: str = "end", where: str = "", path: str = "") -> Endpoint:
    """The one parser of the grammar above (an already parsed Endpoint is returned as it is)."""
    if isinstance(text, Endpoint):
        return text
    assert role in ROLES, role
    parts = text.split("/")
    if role == "link":
        pod, _, iface = text.rpartition("/")
        readings = ((pod, iface),) if pod and iface else ()
    elif role in ("pod", "end") and len(parts) <= 2:
        readings = ((text, ""),) + (((parts[0], parts[1]),) if len(parts) == 2 else ())
    else:  # a peer, a PF (NODE/PF is matched whole), a switch or cable, or a pod name with too many parts
        readings = ()
    return Endpoint(text, role, readings, where, path)


def locate(end: Endpoint, pods: Mapping) -> Optional[tuple]:
    """(pods[POD], IFACE) of the first reading whose pod `pods` has (keyed by name and NAMESPACE/NAME),
    or None."""
    for pod, iface in end.readings:
        if pod in pods:
            return pods[pod], iface
    return None
