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
from dataclasses import dataclass, field, replace
from pathlib import Path

from bondlab.cni import libcni
from bondlab.model import derive
from bondlab.model.k8s import Objects, PodSpec
from bondlab.util.paths import PACKAGE
from bondlab.world import pods
from bondlab.world.build import node_state_dir
from bondlab.world.labstate import LabError, LabState
from bondlab.world.records import Cable, Delegate, Pod

REFERENCE_PLUGINS = "/usr/lib/cni"


@dataclass
class PodPlan:
    pod: PodSpec
    delegates: list = field(default_factory=list)  # records.Delegate, in annotation order
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
            namespace = selection.namespace_in(pod.namespace)
            nad = derive.resolve(objects, pod, selection)
            if nad is None:
                known = ", ".join(sorted(n.key for n in objects.nads.values())) or "none"
                raise _multus_error(
                    pod,
                    f"cannot find a network-attachment-definition ({selection.name}) in namespace "
                    f'({namespace}): network-attachment-definitions.k8s.cni.cncf.io "{selection.name}" '
                    f"not found (known: {known})",
                )
            ifname = selection.ifname(idx)
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


def _runtime(state: LabState, pod: Pod, delegate: Delegate) -> libcni.Runtime:
    args = (
        f"IgnoreUnknown=true;K8S_POD_NAMESPACE={pod.namespace};K8S_POD_NAME={pod.name};"
        f"K8S_POD_INFRA_CONTAINER_ID={pod.container_id};K8S_POD_UID={pod.uid}"
    )
    return libcni.Runtime(
        container_id=pod.container_id,
        netns=pods.cni_netns(pod),
        ifname=delegate.ifname,
        args=args,
        cni_path=state.cni_path,
        host_netns=state.nodes[pod.node],
        node_state=str(node_state_dir(state, pod.node)),
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


def add_pod(state: LabState, pod_plan: PodPlan) -> Pod:
    spec = pod_plan.pod
    sandbox = pods.create(state, spec)  # a netns, or a container's (the pod backend)
    pod = Pod(
        seq=state.next_seq(),
        key=spec.key,
        name=spec.name,
        namespace=spec.namespace,
        node=spec.node,
        **sandbox,
        container_id=secrets.token_hex(32),
        uid=str(uuid.uuid4()),
        owner=spec.owner,
        devices=pod_plan.devices,
        # the bond's interface: CNI_IFNAME, which Multus gives (a config `ifname` is ignored, as upstream
        # has ignored it since its PR #35)
        bond=next((d.ifname for d in pod_plan.delegates if _is_bond(d.config)), None),
        cables=tuple(_vf_cables(state, pod_plan.delegates)),
    )
    state.put_pod(pod)
    state.defer("pod-del", key=spec.key)
    for delegate in pod_plan.delegates:
        pod = state.put_pod(pod.with_delegate(delegate))  # attempted: a failure still DELs it
        try:
            result = libcni.add(delegate.config, _runtime(state, pod, delegate), str(state.dir / "cni"))
        except libcni.CniError as error:
            _pod, errors = _del_delegates(state, pod)
            extra = f"; rollback: {'; '.join(errors)}" if errors else ""
            raise LabError(
                f"{spec.where}: pod {spec.key}: network {delegate.nad} (interface {delegate.ifname}): "
                f"{error}{extra}"
            ) from None
        pod = state.put_pod(_added(state, pod, delegate, result))
    return pod


def _is_bond(config: dict) -> bool:
    return any(plugin.get("type") == "bond" for plugin in derive.plugins(config))


def _vf_cables(state: LabState, delegates: list):
    """The pod's VFs as their delegates name them, each with its switch port (the world's records)."""
    for delegate in delegates:
        for pf in state.pfs:
            for vf in pf.vfs:
                if delegate.device and vf.pci == delegate.device:
                    yield Cable(delegate.ifname, pf.path, vf.port, vf.index, vf.pci)


def _added(state: LabState, pod: Pod, delegate: Delegate, result: dict) -> Pod:
    """The pod's record once ADD of `delegate` returned `result`: the interface's addresses and, for the
    bond, its slaves and the host links among them, cabled to their PF's own switch port."""
    ifname = delegate.ifname
    changes: dict = {
        "results": {**pod.results, ifname: result},
        "addresses": {**pod.addresses, ifname: tuple(libcni.addresses(result))},
    }
    if ifname == pod.bond:
        slaves = _slaves(delegate.config, result, ifname)
        cabled = {cable.ifname for cable in pod.cables}
        hosts = [pf for pf in state.pfs if not pf.vfs and pf.node == pod.node]
        changes["slaves"] = slaves
        changes["cables"] = pod.cables + tuple(
            Cable(pf.name, pf.path, pf.port) for pf in hosts if pf.name in slaves and pf.name not in cabled
        )
    return replace(pod, **changes)


def _slaves(config: dict, result: dict, bond: str) -> tuple:
    """The bond's slaves: the interfaces its ADD result lists after the bond, else (a plugin that reports
    only the bond, as upstream's does) the `links` its config names."""
    names = [iface.get("name") for iface in result.get("interfaces") or []]
    if bond in names[:-1]:
        return tuple(names[names.index(bond) + 1 :])
    return tuple(
        link["name"]
        for plugin in derive.plugins(config)
        if plugin.get("type") == "bond"
        for link in plugin.get("links") or []
        if link.get("name")
    )


def restart_pod(state: LabState, pod: Pod) -> Pod:
    """CNI DEL of every delegate (reverse order), then ADD again in annotation order, same netns."""
    delegates = pod.delegates
    pod, errors = _del_delegates(state, pod)
    if errors:
        raise LabError(f"pod {pod.key}: DEL failed: {'; '.join(errors)}")
    for delegate in delegates:
        pod = state.put_pod(pod.with_delegate(delegate))
        result = libcni.add(delegate.config, _runtime(state, pod, delegate), str(state.dir / "cni"))
        pod = state.put_pod(_added(state, pod, delegate, result))
    return pod


def _del_delegates(state: LabState, pod: Pod):
    """DEL every delegate, newest first, past errors; (the pod's record after, the errors)."""
    errors = []
    gone = not os.path.exists(f"/run/netns/{pod.netns}")  # no `ip netns list` exec per pod
    while pod.delegates:
        delegate = pod.delegates[-1]
        rt = _runtime(state, pod, delegate)
        if gone:
            rt.netns = ""  # the pod's netns vanished: CNI says DEL must still clean up (CNI_NETNS empty)
        try:
            libcni.delete(delegate.config, rt, str(state.dir / "cni"))
        except libcni.CniError as error:
            errors.append(f"{delegate.nad} ({delegate.ifname}): {error}")
        pod = state.put_pod(pod.without_last_delegate())
    return pod, errors


def _pod_del(state: LabState, key: str) -> None:
    pod, errors = _del_delegates(state, state.pod(key))
    state.forget_pod(pod)
    if errors:
        raise LabError(f"pod {key}: DEL failed for " + "; ".join(errors))


HANDLERS = {"pod-del": _pod_del}
