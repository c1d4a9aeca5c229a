"""`bondlab bench lab`: deploy and destroy N pods, each with a bond over VFs of two PFs; time per pod.

The manifest is seed 000's shape (two SR-IOV NADs on two PF pools, an active-backup bond NAD with
host-local IPAM on 10.60.0.0/16, pods asking for one VF of each pool), generated for N pods.
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
    - name: node1
      pfs:
        - {{name: ens1f0, vfs: {n}, backend: {backend}, resourceName: intel.com/intel_sriov_PF_1}}
        - {{name: ens2f0, vfs: {n}, backend: {backend}, resourceName: intel.com/intel_sriov_PF_2}}
  peers:
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
---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {{name: bond-net1}}
spec:
  config: '{{"type": "bond", "cniVersion": "0.3.1", "name": "bond-net1", "mode": "active-backup",
    "failOverMac": 1, "linksInContainer": true, "miimon": "100",
    "links": [{{"name": "net1"}}, {{"name": "net2"}}],
    "ipam": {{"type": "host-local", "subnet": "10.60.0.0/16", "gateway": "{gateway}"}}}}'
"""

POD = """\
---
apiVersion: v1
kind: Pod
metadata:
  name: pod-{i}
  annotations:
    k8s.v1.cni.cncf.io/networks: sriov-net1, sriov-net2, bond-net1@bond0
spec:
  containers:
    - name: c
      resources:
        requests: {{intel.com/intel_sriov_PF_1: '1', intel.com/intel_sriov_PF_2: '1'}}
"""


def manifest(pods: int, backend: str = "veth", name: str = "bench") -> str:
    text = HEAD.format(n=max(pods, 1), backend=backend, gateway=GATEWAY, name=name)
    return text + "".join(POD.format(i=i) for i in range(pods))


def run_once(pods: int, backend: str = "veth", plugin=None, check: bool = True) -> dict:
    from bondlab import deploy
    from bondlab.model import yamlsrc
    from bondlab.world import checks, clean

    prepared = deploy.prepare(yamlsrc.load_all(manifest(pods, backend, f"bench{pods}"), "bench.yaml"))
    started = time.monotonic()
    state = deploy.deploy(prepared, plugin=plugin)
    deployed = time.monotonic() - started
    failed = checks.ping_from_pods(state, GATEWAY) if check else []
    started = time.monotonic()
    errors = deploy.destroy(state)
    destroyed = time.monotonic() - started
    left = {kind: found for kind, found in clean.leftovers(state.id).items() if found}
    return {
        "pods": pods,
        "deploy": deployed,
        "destroy": destroyed,
        "unreachable": failed,
        "errors": errors,
        "leftovers": left,
    }


def bench(counts: list, backend: str = "veth", plugin=None) -> int:
    print(
        f"{'pods':>5} {'deploy s':>9} {'per pod':>8} {'destroy s':>10} {'per pod':>8}  connectivity",
        flush=True,
    )
    bad = 0
    for count in counts:
        got = run_once(count, backend, plugin)
        ok = "all pods reach the gateway" if not got["unreachable"] else f"{len(got['unreachable'])} failed"
        ok += f"; left behind: {got['leftovers']}" if got["leftovers"] else "; nothing left behind"
        print(
            f"{count:>5} {got['deploy']:>9.2f} {got['deploy'] / count:>8.3f} {got['destroy']:>10.2f} "
            f"{got['destroy'] / count:>8.3f}  {ok}",
            flush=True,
        )
        bad += bool(got["unreachable"] or got["errors"] or got["leftovers"])
    return 1 if bad else 0
