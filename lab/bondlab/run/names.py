"""Names in a scenario (POD, NAMESPACE/POD, POD/IFACE, NODE/PF, peers) -> the lab's records and kernel
objects."""

from __future__ import annotations

import ipaddress

from bondlab.traffic.probes import TrafficError
from bondlab.world.labstate import LabError
from bondlab.world.netns import Netns
from bondlab.world.records import Pod


class Names:
    """Resolution over one deployed lab's records (world.records), as deploy wrote them."""

    def __init__(self, state) -> None:
        self.state = state

    def pod(self, name: str) -> Pod:
        """A pod by NAME, NAMESPACE/NAME, or the pod part of POD/BOND."""
        try:
            return self.state.pod(name)
        except LabError:
            if name.count("/") != 1:
                raise
            return self.state.pod(name.split("/")[0])

    def pod_ns(self, name: str) -> Netns:
        return Netns(self.pod(name).netns)

    def bond_of(self, pod: Pod) -> str:
        """The bond's interface in the pod, as deploy recorded it (cni.multus.add_pod)."""
        if not pod.bond:
            raise LabError(f"pod {pod.key} has no bond")
        return pod.bond

    def split(self, link: str):
        pod, _, iface = link.rpartition("/")
        return self.pod(pod), iface

    def slave_port(self, link: str) -> str:
        """The fabric switch port a pod's slave is cabled to (a VF's port, or a host link's PF port)."""
        pod, iface = self.split(link)
        cable = pod.cable(iface)
        if cable is None:
            raise LabError(f"{link}: not a VF or host link the lab cabled (no switch port)")
        return cable.port

    def vf_of(self, link: str):
        """(the PF's record, the VF's index) of a pod's VF."""
        pod, iface = self.split(link)
        cable = pod.cable(iface)
        if cable is None or cable.vf is None:
            raise LabError(f"{link}: not a VF")
        return self.state.pf(*cable.pf.split("/", 1)), cable.vf

    def slaves(self, pod: Pod) -> list:
        """The bond's slaves as its ADD enslaved them."""
        self.bond_of(pod)
        return list(pod.slaves)

    def endpoint(self, name: str, family: str = "ipv4"):
        """(netns, addresses of `family`, kind) of a peer (without prefix), or of a pod (its bond's, or
        POD/IFACE's, with prefix)."""
        peer = self.state.peers.get(name)
        if peer is not None:
            return peer.netns, [a.split("/")[0] for a in of_family(family, peer.addresses)], "peer"
        pod = self.pod(name)
        return pod.netns, of_family(family, pod.addresses.get(self.interface(name), ())), "pod"

    def interface(self, name: str) -> str:
        """The interface an endpoint's addresses are on: a peer's device, a pod's bond or POD/IFACE."""
        peer = self.state.peers.get(name)
        if peer is not None:
            return peer.device
        pod = self.pod(name)
        iface = (
            name.split("/")[1] if name.count("/") == 1 and not name.startswith(pod.namespace + "/") else None
        )
        return iface or self.bond_of(pod)

    def address_for(self, src: list, dst: list) -> str:
        """The destination address on the same subnet as the source, else the first."""
        for d in dst:
            for s in src:
                if "/" in s and ipaddress.ip_address(d.split("/")[0]) in ipaddress.ip_interface(s).network:
                    return d.split("/")[0]
        if not dst:
            raise TrafficError("traffic cannot start: the destination has no IPv4 address")
        return dst[0].split("/")[0]


def of_family(family: str, addresses) -> list:
    """The addresses of one family."""
    return [a for a in addresses if (":" in a) == (family == "ipv6")]
