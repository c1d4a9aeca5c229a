"""`bondlab bench lab`: deploy and destroy N pods on K nodes, each with a bond over VFs of two PFs; time per
pod and per node.

The manifest is seed 000's shape (two SR-IOV NADs on two PF pools, an active-backup bond NAD with
host-local IPAM on 10.60.0.0/16, pods asking for one VF of each pool), generated for N pods spread over K
nodes in turn. Each node has its own bond NAD with its own range (10.60.K.0/24): host-local keeps its
leases per node, so one range over several nodes would hand out one address twice.
"""

from __future__ import annotations

import time

GATEWAY = "10.60.0.1"

HEAD = """\
apiVersion: bondlab/v1
kind: BondLab
metadata: {{name: {name}}}
spec:
  nodes:
{nodes}  peers:
    - {{name: gw, switch: core, addresses: [{gateway}/16]}}
---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: sriov-net1
  annotations: {{k8s.v1.cni.cncf.io/resourceName: intel.com/intel_sriov_PF_1}}
spec: {{config: '{{"type": "sriov", "cniVersion": "0.3.1", "name": "sriov-network", "spoofchk": "off"}}'}}
---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: sriov-net2
  annotations: {{k8s.v1.cni.cncf.io/resourceName: intel.com/intel_sriov_PF_2}}
spec: {{config: '{{"type": "sriov", "cniVersion": "0.3.1", "name": "sriov-network", "spoofchk": "off"}}'}}
"""

NODE = """\
    - name: node{k}
      pfs:
        - {{name: ens1f0, vfs: {n}, backend: {backend}, resourceName: intel.com/intel_sriov_PF_1}}
        - {{name: ens2f0, vfs: {n}, backend: {backend}, resourceName: intel.com/intel_sriov_PF_2}}
"""

BOND = """\
---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {{name: bond-net{k}}}
spec:
  config: '{{"type": "bond", "cniVersion": "0.3.1", "name": "bond-net1", "mode": "active-backup",
    "failOverMac": 1, "linksInContainer": true, "miimon": "100",
    "links": [{{"name": "net1"}}, {{"name": "net2"}}],
    "ipam": {{"type": "host-local", "subnet": "10.60.0.0/16", "gateway": "{gateway}",
              "rangeStart": "10.60.{k}.2", "rangeEnd": "10.60.{k}.254"}}}}'
"""

POD = """\
---
apiVersion: v1
kind: Pod
metadata:
  name: pod-{i}
  annotations:
    k8s.v1.cni.cncf.io/networks: sriov-net1, sriov-net2, bond-net{k}@bond0
spec:
  nodeName: node{k}
  containers:
    - name: c
      resources:
        requests: {{intel.com/intel_sriov_PF_1: '1', intel.com/intel_sriov_PF_2: '1'}}
"""


def manifest(pods: int, backend: str = "veth", name: str = "bench", nodes: int = 1) -> str:
    if not 1 <= nodes <= 250:
        raise ValueError(f"nodes: expected 1..250, got {nodes}")
    vfs = max(-(-pods // nodes), 1)  # the most pods a node gets
    text = HEAD.format(
        name=name,
        gateway=GATEWAY,
        nodes="".join(NODE.format(k=k, n=vfs, backend=backend) for k in range(1, nodes + 1)),
    )
    text += "".join(BOND.format(k=k, gateway=GATEWAY) for k in range(1, nodes + 1))
    return text + "".join(POD.format(i=i, k=1 + i % nodes) for i in range(pods))


def run_once(pods: int, backend: str = "veth", plugin=None, check: bool = True, nodes: int = 1) -> dict:
    from bondlab import deploy
    from bondlab.model import yamlsrc
    from bondlab.world import clean, reach

    prepared = deploy.prepare(yamlsrc.load_all(manifest(pods, backend, f"bench{pods}", nodes), "bench.yaml"))
    started = time.monotonic()
    state = deploy.deploy(prepared, plugin=plugin)
    deployed = time.monotonic() - started
    failed = reach.ping_from_pods(state, GATEWAY) if check else []
    started = time.monotonic()
    errors = deploy.destroy(state)
    destroyed = time.monotonic() - started
    left = {kind: found for kind, found in clean.leftovers(state.id).items() if found}
    return {
        "nodes": nodes,
        "pods": pods,
        "deploy": deployed,
        "destroy": destroyed,
        "unreachable": failed,
        "errors": errors,
        "leftovers": left,
    }


def bench(counts: list, backend: str = "veth", plugin=None, nodes: tuple = (1,)) -> int:
    print(
        f"{'nodes':>5} {'pods':>5} {'deploy s':>9} {'per pod':>8} {'per node':>9} {'destroy s':>10} "
        f"{'per pod':>8}  connectivity",
        flush=True,
    )
    bad = 0
    for count, k in [(count, k) for k in nodes for count in counts]:
        got = run_once(count, backend, plugin, nodes=k)
        ok = "all pods reach the gateway" if not got["unreachable"] else f"{len(got['unreachable'])} failed"
        ok += f"; left behind: {got['leftovers']}" if got["leftovers"] else "; nothing left behind"
        deployed, destroyed = got["deploy"], got["destroy"]
        print(
            f"{k:>5} {count:>5} {deployed:>9.2f} {deployed / count:>8.3f} {deployed / k:>9.3f} "
            f"{destroyed:>10.2f} {destroyed / count:>8.3f}  {ok}",
            flush=True,
        )
        bad += bool(got["unreachable"] or got["errors"] or got["leftovers"])
    return 1 if bad else 0
