"""A Multus-style runtime: pods get their networks the way Multus + the SR-IOV device plugin give them.

plan() is pure (nothing is created until every pod's networks resolve): NAD lookup in the selection's or
the pod's namespace, interface names (`interface` or net1, net2, ... by position), VFs allocated from the
pool named by the NAD's resourceName on the pod's node (the kubelet/device-plugin part), one deviceID
per delegate injected as top-level `deviceID` and `pciBusID` (Multus delegateAddDeviceID).
add_pod() execs the delegates in annotation order with the CNI env (CNI_ARGS with K8S_POD_*), and on a
failure deletes what was added, including the failed one, in reverse (Multus delPlugins); del_pod()
runs DEL in reverse order and keeps going past errors.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bondlab.cni import libcni
from bondlab.model import derive
from bondlab.model.k8s import Objects, PodSpec
from bondlab.util.paths import PACKAGE
from bondlab.world.labstate import LabError, LabState
from bondlab.world.pods import backends as pods

REFERENCE_PLUGINS = "/usr/lib/cni"


@dataclass
class Delegate:
    nad: str  # ns/name
    ifname: str
    config: dict
    device: str = ""


@dataclass
class PodPlan:
    pod: PodSpec
    delegates: list = field(default_factory=list)
    devices: dict = field(default_factory=dict)  # resource -> [pci]


def _multus_error(pod: PodSpec, message: str) -> LabError:
    return LabError(f"{pod.where}: pod {pod.key}: {message}")


def plan(objects: Objects, topo, pods: list) -> list:
    """Resolve every pod's networks and allocate its VFs; raise LabError naming the object on bad input."""
    pools = topo.pools()
    free: dict = {}  # (node, resource) -> [pci]
    for resource, members in pools.items():
        for bus_node, _pf in members:
            free.setdefault((bus_node, resource), [])
    for node in topo.nodes:
        for pf in node.pfs:
            if pf.resource:
                free[(node.name, pf.resource)] += [pf.pci(k) for k in range(pf.vfs)]
    plans = []
    for pod in pods:
        if pod.node not in {n.name for n in topo.nodes}:
            raise _multus_error(
                pod, f"node {pod.node!r} is not in the lab (nodes: {', '.join(n.name for n in topo.nodes)})"
            )
        result = PodPlan(pod)
        names = set()
        for resource, count in sorted(derive.needs(objects, pod).items()):
            if resource not in pools:
                raise _multus_error(
                    pod,
                    f"resource {resource} is not advertised by any node (known: "
                    f"{', '.join(sorted(pools)) or 'none'})",
                )
            avail = free[(pod.node, resource)]
            if len(avail) < count:
                raise _multus_error(
                    pod,
                    f"Insufficient {resource}: needs {count}, the pool on node "
                    f"{pod.node} has {len(avail)} free VF(s) left",
                )
            result.devices[resource] = [avail.pop(0) for _ in range(count)]
        handed: dict = {}
        for idx, selection in enumerate(pod.networks, start=1):
            namespace = selection.namespace or pod.namespace
            nad = objects.nads.get(f"{namespace}/{selection.name}")
            if nad is None:
                known = ", ".join(sorted(n.key for n in objects.nads.values())) or "none"
                raise _multus_error(
                    pod,
                    f"cannot find a network-attachment-definition ({selection.name}) in namespace "
                    f'({namespace}): network-attachment-definitions.k8s.cni.cncf.io "{selection.name}" '
                    f"not found (known: {known})",
                )
            ifname = selection.interface or f"net{idx}"
            if ifname in names:
                raise _multus_error(
                    pod, f"interface name {ifname!r} is used twice in the networks annotation"
                )
            names.add(ifname)
            config = copy.deepcopy(nad.config)
            config.setdefault("name", nad.name)
            device = ""
            if nad.resource:
                given = result.devices.get(nad.resource, [])
                used = handed.get(nad.resource, 0)
                if used >= len(given):
                    raise _multus_error(
                        pod,
                        f"network {nad.key} needs a device of {nad.resource}, but the pod "
                        f"was allocated only {len(given)}",
                    )
                device = given[used]
                handed[nad.resource] = used + 1
                for plugin in derive.plugins(config):
                    plugin["deviceID"] = plugin["pciBusID"] = device
            if selection.cni_args:
                for plugin in derive.plugins(config):
                    plugin.setdefault("args", {}).setdefault("cni", {}).update(selection.cni_args)
            if selection.mac:
                for plugin in derive.plugins(config):
                    plugin.setdefault("runtimeConfig", {})["mac"] = selection.mac
            result.delegates.append(Delegate(nad.key, ifname, config, device))
        plans.append(result)
    return plans


# -- the CNI bin dir: the bond plugin under test, our sriov stand-in, then the reference plugins -------
def install_bin(state: LabState, plugin: str) -> list:
    import sys

    directory = state.dir / "bin"
    directory.mkdir(exist_ok=True)
    bond = directory / "bond"
    if bond.is_symlink() or bond.exists():
        bond.unlink()
    bond.symlink_to(os.path.realpath(plugin))
    script = directory / "sriov"
    # -I -S: no site, no venv scan, no PYTHONPATH - the stand-in needs the stdlib and bondlab only, and
    # every ADD/DEL pays the interpreter's start-up (about 0.2 s of it is `site` in the lab VM).
    lab = str(PACKAGE.parent)
    script.write_text(
        f"#!{sys.executable} -IS\nimport sys\nsys.path.insert(0, {lab!r})\n"
        "from bondlab.cni.sriov import main\nraise SystemExit(main())\n"
    )
    script.chmod(0o755)
    return [str(directory), REFERENCE_PLUGINS]


def plugin_env(state: LabState) -> dict:
    """The environment every plugin this runtime execs gets, beyond the CNI_* variables: the runtime's, never
    a network config's (the bond plugin's node settings file among them)."""
    return {"BONDLAB_LAB_DIR": str(state.dir), "BONDCNI_SETTINGS": str(node_settings(state))}


def _runtime(state: LabState, record: dict, delegate: dict) -> libcni.Runtime:
    args = (
        f"IgnoreUnknown=true;K8S_POD_NAMESPACE={record['namespace']};K8S_POD_NAME={record['name']};"
        f"K8S_POD_INFRA_CONTAINER_ID={record['container_id']};K8S_POD_UID={record['uid']}"
    )
    return libcni.Runtime(
        container_id=record["container_id"],
        netns=pods.cni_netns(record),
        ifname=delegate["ifname"],
        args=args,
        cni_path=state.data["cni_path"],
        host_netns=state.data["nodes"][record["node"]],
        extra_env=plugin_env(state),
    )


def node_settings(state: LabState) -> Path:
    """The bond plugin's node settings, as a node admin writes them (root-owned, 0600).  The lab's node links
    (a topology's host links and VFs) are veths, which the plugin's default host-link policy refuses as
    virtual links; the lab is the admin of its throwaway nodes and allows them all by name.  Links with an
    address or a route stay refused: that rule has no allowance."""
    path = state.dir / "bond.conf"
    if not path.exists():
        path.write_text(json.dumps({"hostLinks": {"allow": ["*"]}}))
        path.chmod(0o600)
    return path


def add_pod(state: LabState, pod_plan: PodPlan) -> dict:
    pod = pod_plan.pod
    sandbox = pods.create(state, pod)  # a netns, or a container's (the pod backend)
    record = {
        "key": pod.key,
        "name": pod.name,
        "namespace": pod.namespace,
        "node": pod.node,
        **sandbox,
        "container_id": secrets.token_hex(32),
        "uid": str(uuid.uuid4()),
        "owner": pod.owner,
        "devices": pod_plan.devices,
        # the bond's interface: CNI_IFNAME, which Multus gives (a config `ifname` is ignored, as upstream
        # has ignored it since its PR #35)
        "bond": next((d.ifname for d in pod_plan.delegates if _is_bond(d.config)), None),
        "delegates": [],
        "results": {},  # ifname -> the result its ADD returned (the addresses the lab reads)
    }
    state.save_pod(record)  # before the append: its place in the order (seq) comes from the others
    state.data["pods"].append(record)
    state.defer("pod-del", key=pod.key)
    for delegate in pod_plan.delegates:
        entry = {
            "nad": delegate.nad,
            "ifname": delegate.ifname,
            "config": delegate.config,
            "device": delegate.device,
        }
        record["delegates"].append(entry)  # attempted: a failure still DELs it (Multus delPlugins)
        state.save_pod(record)
        try:
            result = libcni.add(delegate.config, _runtime(state, record, entry), str(state.dir / "cni"))
        except libcni.CniError as error:
            errors = _del_delegates(state, record)
            extra = f"; rollback: {'; '.join(errors)}" if errors else ""
            raise LabError(
                f"{pod.where}: pod {pod.key}: network {delegate.nad} (interface {delegate.ifname}): "
                f"{error}{extra}"
            ) from None
        record["results"][delegate.ifname] = result
        state.save_pod(record)
    return record


def _is_bond(config: dict) -> bool:
    return any(plugin.get("type") == "bond" for plugin in config.get("plugins") or [config])


def restart_pod(state: LabState, record: dict) -> None:
    """CNI DEL of every delegate (reverse order), then ADD again in annotation order, same netns."""
    entries = list(record["delegates"])
    errors = _del_delegates(state, record)
    if errors:
        raise LabError(f"pod {record['key']}: DEL failed: {'; '.join(errors)}")
    for entry in entries:
        record["delegates"].append(entry)
        state.save()
        record["results"][entry["ifname"]] = libcni.add(
            entry["config"], _runtime(state, record, entry), str(state.dir / "cni")
        )
        state.save()


def _del_delegates(state: LabState, record: dict) -> list:
    errors = []
    gone = not os.path.exists(f"/run/netns/{record['netns']}")  # no `ip netns list` exec per pod
    while record["delegates"]:
        entry = record["delegates"][-1]
        rt = _runtime(state, record, entry)
        if gone:
            rt.netns = ""  # the pod's netns vanished: CNI says DEL must still clean up (CNI_NETNS empty)
        try:
            libcni.delete(entry["config"], rt, str(state.dir / "cni"))
        except libcni.CniError as error:
            errors.append(f"{entry['nad']} ({entry['ifname']}): {error}")
        record["delegates"].pop()
        state.save_pod(record)
    return errors


def find_pod(state: LabState, name: str) -> dict:
    for record in state.data["pods"]:
        if name in (record["key"], record["name"]):
            return record
    known = ", ".join(r["key"] for r in state.data["pods"]) or "none"
    raise LabError(f"no pod {name!r} in lab {state.data['name']} (pods: {known})")


def _pod_del(state: LabState, key: str) -> None:
    record = find_pod(state, key)
    errors = _del_delegates(state, record)
    state.forget_pod(record)
    if errors:
        raise LabError(f"pod {key}: DEL failed for " + "; ".join(errors))


HANDLERS = {"pod-del": _pod_del}
