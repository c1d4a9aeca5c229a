"""The sandbox one case runs in, made for it and undone after it (on failure and Ctrl-C too): the node's
netns the plugin runs in (`host`, as a runtime runs plugins in its own netns), a pod netns, a netns
holding the far ends of the veths the case hands the plugin, host-local IPAM from /usr/lib/cni with its
data in a scratch directory. Namespaces carry the lab's owner mark, so `bondlab clean` finds leftovers.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from functools import cache
from typing import Optional

from bondlab.cni.libcni import Runtime
from bondlab.util import names
from bondlab.util.undo import Undo
from bondlab.world import netns
from bondlab.world.netns import Netns

CNI_PATH = ["/usr/lib/cni"]
MARK = names.OWNER_MARK + "conformance"
SUBNET, GATEWAY = "10.56.217.0/24", "10.56.217.1"
NETWORK = "conf-net"  # the network name of every case's config (host-local keeps its leases under it)


@cache
def ipam_speaks(version: str) -> bool:
    """Whether the node's host-local claims `version` (Debian 12's, 1.1.1, stops at 1.0.0)."""
    from bondlab.conformance.driver import call

    rt = Runtime(container_id="", netns="", ifname="", cni_path=CNI_PATH)
    answer = call(os.path.join(CNI_PATH[0], "host-local"), "VERSION", {"cniVersion": version}, rt).json
    return version in ((answer or {}).get("supportedVersions") or [])


class Sandbox:
    def __init__(self, undo: Undo) -> None:
        self.undo = undo
        self.tmp = tempfile.mkdtemp(prefix="bl-conformance-")
        undo.defer(shutil.rmtree, self.tmp, True)
        self.host, self.peer, self.pod = netns.create_many(undo, ["ch", "cq", "cp"], MARK)
        self.container_id = f"conf-{secrets.token_hex(4)}"
        # The node's own settings for plugins that read them from the runtime's environment (this
        # project's: BONDCNI_*, SECURITY.md). The node's "host links" here are veths, which a node admin
        # must allow; every other plugin ignores these variables.
        settings = os.path.join(self.tmp, "bond.conf")
        with open(settings, "w") as stream:
            json.dump({"hostLinks": {"allow": ["*"]}}, stream)
        os.chmod(settings, 0o600)
        self.node_env = {
            "BONDCNI_SETTINGS": settings,
            "BONDCNI_STATE_DIR": os.path.join(self.tmp, "state"),
        }

    def new_pod(self) -> Netns:
        return netns.create(self.undo, "cp", MARK)

    def remove_pod(self) -> None:
        netns.delete(self.pod.name)

    @staticmethod
    def path(ns: Netns) -> str:
        return f"/run/netns/{ns.name}"

    def runtime(
        self,
        ifname: str,
        pod: Optional[Netns] = None,
        container_id: Optional[str] = None,
        netns_path: Optional[str] = None,
    ) -> Runtime:
        """The CNI parameters of one attachment (the pod's netns path unless `netns_path` says otherwise)."""
        return Runtime(
            container_id=container_id or self.container_id,
            netns=self.path(pod or self.pod) if netns_path is None else netns_path,
            ifname=ifname,
            cni_path=CNI_PATH,
            host_netns=self.host.name,
            extra_env=self.node_env,
        )

    def veths(self, ns: Netns, ifnames: list, mtu: int = 0, up: bool = True) -> None:
        """Veths named `ifnames` in `ns`, their peers up in the peer netns (two `ip -batch` runs)."""
        peers = [f"q{secrets.token_hex(4)}" for _ in ifnames]
        netns.batch(
            self.peer.name,
            [f"link add {p} type veth peer name {n} netns {ns.name}" for p, n in zip(peers, ifnames)]
            + [f"link set {p} up" for p in peers],
        )
        lines = [f"link set {n} mtu {mtu}" for n in ifnames if mtu]
        netns.batch(ns.name, lines + ([f"link set {n} up" for n in ifnames] if up else []))

    def ipam(self, **extra) -> dict:
        conf = {
            "type": "host-local",
            "subnet": SUBNET,
            "gateway": GATEWAY,
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": os.path.join(self.tmp, "ipam"),
        }
        conf.update(extra)
        return conf

    def exhausted_ipam(self) -> dict:
        """host-local with one address in its range, already leased to another container: its ADD fails
        (no address left), its DEL of this container succeeds."""
        conf = self.ipam(rangeStart="10.56.217.10", rangeEnd="10.56.217.10")
        os.makedirs(os.path.join(conf["dataDir"], NETWORK), exist_ok=True)
        with open(os.path.join(conf["dataDir"], NETWORK, "10.56.217.10"), "w") as stream:
            stream.write("another-container\r\neth0")
        return conf

    def leases(self) -> list:
        """host-local's allocations: one file per address (its lock and last-reserved files left out)."""
        found = []
        for _, _, files in os.walk(os.path.join(self.tmp, "ipam")):
            found += [f for f in files if not f.startswith(("last_reserved_ip", "lock"))]
        return sorted(found)

    def links(self, ns: Netns) -> Optional[list]:
        """Every link of `ns` as (name, MAC, MTU, admin up, master); None when the netns is gone."""
        if not os.path.exists(self.path(ns)):
            return None
        return sorted(
            (
                ln["ifname"],
                ln.get("address"),
                ln.get("mtu"),
                "UP" in ln.get("flags", []),
                ln.get("master", ""),
            )
            for ln in ns.ip_json("link", "show") or []
        )

    def link(self, ns: Netns, ifname: str) -> dict:
        proc = ns.ip("-j", "-d", "link", "show", "dev", ifname, check=False)
        return json.loads(proc.stdout)[0] if proc.returncode == 0 else {}

    def addresses(self, ns: Netns, ifname: str) -> list:
        proc = ns.ip("-j", "addr", "show", "dev", ifname, check=False)
        if proc.returncode != 0:
            return []
        return [
            f"{a['local']}/{a['prefixlen']}"
            for a in json.loads(proc.stdout)[0].get("addr_info", [])
            if a.get("scope") == "global"
        ]

    @staticmethod
    def difference(before: dict, after: dict) -> str:
        """What changed between two snapshots, briefly (links as name, MAC, MTU, up, master)."""
        out = []
        for key in before:
            if before[key] == after.get(key):
                continue
            if before[key] is None or after.get(key) is None:
                out.append(f"{key}: {before[key]} -> {after.get(key)}")
                continue
            gone = sorted(set(before[key]) - set(after[key]))
            new = sorted(set(after[key]) - set(before[key]))
            out.append(f"{key}: {gone} -> {new}")
        return "; ".join(out)

    def snapshot(self) -> dict:
        """What a failed ADD or a DEL must give back: the node's and the pod's links, the leases."""
        return {"host": self.links(self.host), "pod": self.links(self.pod), "leases": self.leases()}
