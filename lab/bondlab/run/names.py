"""Names in a scenario (POD, NAMESPACE/POD, POD/IFACE, NODE/PF, peers; parsed by model.endpoints) -> the
deployed lab's records and kernel objects. A name given as text is parsed here by the same parser, in the
role the method takes."""

from __future__ import annotations

import ipaddress

from bondlab.model import endpoints
from bondlab.model.endpoints import Endpoint
from bondlab.traffic.probes import TrafficError
from bondlab.world.labstate import LabError
from bondlab.world.netns import Netns
from bondlab.world.records import Pod


class Names:
    """Resolution over one deployed lab's records (world.records), as deploy wrote them."""

    def __init__(self, state) -> None:
        self.state = state

    def _located(self, name: str | Endpoint, role: str) -> tuple:
        """(the Pod, the interface named or "") of a pod, link or end name; LabError naming the pod."""
        end = endpoints.parse(name, role)
        pods: dict = {}
        for pod in self.state.pods:
            pods.setdefault(pod.key, pod)
            pods.setdefault(pod.name, pod)
        found = endpoints.locate(end, pods)
        if found is None:
            self.state.pod(end.readings[-1][0] if end.readings else end.text)  # raises, naming the pods
            raise LabError(f"no pod named by {end.text!r}")
        return found

    def pod(self, name: str | Endpoint) -> Pod:
        """A pod by NAME, NAMESPACE/NAME, or the pod part of POD/BOND."""
        return self._located(name, "pod")[0]

    def pod_ns(self, name: str) -> Netns:
        return Netns(self.pod(name).netns)

    def bond_of(self, pod: Pod) -> str:
        """The bond's interface in the pod, as deploy recorded it (cni.multus.add_pod)."""
        if not pod.bond:
            raise LabError(f"pod {pod.key} has no bond")
        return pod.bond

    def split(self, link: str | Endpoint) -> tuple:
        """(the Pod, the interface) of [NAMESPACE/]POD/IFACE."""
        return self._located(link, "link")

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

    def endpoint(self, name: str | Endpoint, family: str = "ipv4"):
        """(netns, addresses of `family`, kind) of a peer (without prefix), or of a pod (its bond's, or
        POD/IFACE's, with prefix)."""
        peer = self.state.peers.get(str(name))
        if peer is not None:
            return peer.netns, [a.split("/")[0] for a in of_family(family, peer.addresses)], "peer"
        pod = self.pod(name)
        return pod.netns, of_family(family, pod.addresses.get(self.interface(name), ())), "pod"

    def interface(self, name: str | Endpoint) -> str:
        """The interface an endpoint's addresses are on: a peer's device, a pod's bond or POD/IFACE."""
        peer = self.state.peers.get(str(name))
        if peer is not None:
            return peer.device
        pod, iface = self._located(name, "end")
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
