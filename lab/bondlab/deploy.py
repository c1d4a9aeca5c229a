"""deploy / destroy: documents -> objects -> topology (given or derived) -> plan -> world -> pods, and back.

Nothing is created before the whole input is checked (YAML, schema, NAD references, pools), so bad
input leaves nothing behind; a failure during creation, Ctrl-C or SIGTERM unwinds the undo log.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Optional

from bondlab.cni import multus
from bondlab.model import derive, k8s, topology, yamlsrc
from bondlab.util.paths import REPO
from bondlab.world import build, lacp_partner, pods
from bondlab.world.labstate import LabError, LabState

HANDLERS = {**build.HANDLERS, **multus.HANDLERS, **pods.HANDLERS, **lacp_partner.HANDLERS}


def default_plugin() -> str:
    """The bond binary under test: $BONDLAB_PLUGIN, else the repo's bin/bond."""
    return os.environ.get("BONDLAB_PLUGIN") or str(REPO / "bin" / "bond")


@dataclass
class Prepared:
    objects: k8s.Objects
    topology: topology.Topology
    plans: list


def prepare(docs: list, backend: str = "veth", topo: Optional[topology.Topology] = None) -> Prepared:
    """Check everything; create nothing. `docs`: the YAML documents, parsed once by their reader
    (yamlsrc.load_files, yamlsrc.load_all, a scenario's `documents`); `topo` (one built in Python) is the
    world instead of the input's BondLab document or the one derived from it."""
    objects = k8s.classify(docs)
    if objects.nads and not objects.pods and not objects.daemonsets:
        # Multus attaches a NAD only to pods that name it; alone it never reaches a plugin.
        nad = next(iter(objects.nads.values()))
        raise yamlsrc.SourceError(
            "no Pod or DaemonSet in the input names this NetworkAttachmentDefinition (or any other) "
            "in the k8s.v1.cni.cncf.io/networks annotation, so Multus "
            "would attach it to nothing; add the pod that uses it",
            nad.where,
            "",
            f"{k8s.NAD_KIND} {nad.key}",
        )
    if topo is not None:
        try:
            topo = topo.validate()
        except ValueError as error:
            raise LabError(f"topology {topo.name}: {error}") from None
    elif len(objects.topologies) > 1:
        raise yamlsrc.SourceError("only one BondLab document per lab", yamlsrc.where(objects.topologies[1]))
    elif objects.topologies:
        topo = topology.parse(objects.topologies[0])
    else:
        topo = derive.derive(objects, backend=backend)
    pods = derive.expand_pods(objects, [node.name for node in topo.nodes])
    return Prepared(objects, topo, multus.plan(objects, topo, pods))


def deploy(
    prepared: Prepared,
    name: Optional[str] = None,
    plugin: Optional[str] = None,
    progress: Callable = lambda text: None,
    pods_backend: Optional[str] = None,
) -> LabState:
    """Build the world, then every pod; `pods_backend` is netns or docker (see pods.choose)."""
    plugin = plugin or default_plugin()
    if not (os.path.isfile(plugin) and os.access(plugin, os.X_OK)):
        raise LabError(
            f"the bond plugin {plugin!r} is not an executable file (build it: python -m bondcni_build.bond)"
        )
    from bondlab.vm.engine import restore_signal, terminate_as_exception

    previous = terminate_as_exception()
    state = LabState.create(name or prepared.topology.name)
    try:
        state.plugin = os.path.realpath(plugin)
        state.cni_path = multus.install_bin(state, plugin)
        pods.setup(state, pods.choose(pods_backend, prepared.topology), progress)
        started = time.monotonic()
        build.build(state, prepared.topology, progress)
        progress(f"world ready in {time.monotonic() - started:.2f} s")
        total = len(prepared.plans)
        for number, pod_plan in enumerate(prepared.plans, start=1):
            began = time.monotonic()
            multus.add_pod(state, pod_plan)
            progress(
                f"pod {number}/{total} {pod_plan.pod.key} on {pod_plan.pod.node}: "
                f"{', '.join(d.ifname for d in pod_plan.delegates) or 'no networks'} "
                f"({time.monotonic() - began:.2f} s)"
            )
        return state
    except BaseException:
        destroy(state)
        raise
    finally:
        restore_signal(previous)


def destroy(state: LabState, progress: Optional[Callable] = None) -> list:
    """Unwind the lab's undo log (pods DEL in reverse, then the world) and forget the lab."""
    errors = state.unwind(HANDLERS, progress)
    state.remove()
    return errors
