"""Names in a scenario (POD, NAMESPACE/POD, POD/IFACE, NODE/PF, peers) -> the lab's records and kernel
objects."""

from __future__ import annotations

import ipaddress

from bondlab.cni import libcni, multus
from bondlab.run import traffic
from bondlab.world import switch
from bondlab.world.labstate import LabError
from bondlab.world.netns import Netns


class Names:
    """Resolution over one deployed lab's records."""

    def __init__(self, state) -> None:
        self.state = state

    def pod(self, name: str) -> dict:
        """A pod by NAME, NAMESPACE/NAME, or the pod part of POD/BOND."""
        try:
            return multus.find_pod(self.state, name)
        except LabError:
            if name.count("/") != 1:
                raise
            return multus.find_pod(self.state, name.split("/")[0])

    def pod_ns(self, name: str) -> Netns:
        return Netns(self.pod(name)["netns"])

    def bond_of(self, pod: dict) -> str:
        """The bond's interface in the pod, as deploy recorded it (cni.multus.add_pod)."""
        if not pod.get("bond"):
            raise LabError(f"pod {pod['key']} has no bond")
        return pod["bond"]

    def split(self, link: str):
        pod, _, iface = link.rpartition("/")
        return self.pod(pod), iface

    def slave_port(self, link: str) -> str:
        """The fabric switch port a pod's slave is cabled to (a VF's port, or a host link's PF port)."""
        pod, iface = self.split(link)
        device = next((d.get("device") for d in pod["delegates"] if d["ifname"] == iface), None)
        for record in self.state.data["pfs"]:
            for entry in record["vfs"]:
                if device and entry["pci"] == device:
                    return entry["port"]
            if not record["vfs"] and record["name"] == iface and record["node"] == pod["node"]:
                return switch.PfSwitch(record["switch"]).pf_port
        raise LabError(f"{link}: not a VF or host link the lab cabled (no switch port)")

    def vf_of(self, link: str):
        pod, iface = self.split(link)
        device = next((d.get("device") for d in pod["delegates"] if d["ifname"] == iface), None)
        for record in self.state.data["pfs"]:
            for entry in record["vfs"]:
                if device and entry["pci"] == device:
                    return record, entry["index"]
        raise LabError(f"{link}: not a VF")

    def slaves(self, pod: dict) -> list:
        bond = self.bond_of(pod)
        links = Netns(pod["netns"]).ip_json("-d", "link", "show") or []
        return [link["ifname"] for link in links if link.get("master") == bond]

    def endpoint(self, name: str):
        """(netns, IPv4 address, kind) of a pod (its bond's address) or a peer."""
        peers = self.state.data.get("peers", {})
        if name in peers:
            return peers[name]["netns"], [a.split("/")[0] for a in peers[name]["addresses"]], "peer"
        pod = self.pod(name)
        bond = (
            name.split("/")[1]
            if name.count("/") == 1 and not name.startswith(pod["namespace"] + "/")
            else None
        )
        bond = bond or self.bond_of(pod)
        return pod["netns"], libcni.ipv4_addresses(pod["results"].get(bond) or {}), "pod"

    def address_for(self, src: list, dst: list) -> str:
        """The destination address on the same subnet as the source, else the first."""
        for d in dst:
            for s in src:
                if "/" in s and ipaddress.ip_address(d.split("/")[0]) in ipaddress.ip_interface(s).network:
                    return d.split("/")[0]
        if not dst:
            raise traffic.TrafficError("traffic cannot start: the destination has no IPv4 address")
        return dst[0].split("/")[0]
