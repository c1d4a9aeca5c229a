"""A deployed lab's record on disk, including its undo log.

`<state dir>/labs/<name>/` holds the lab id (the `bl-<id>-` netns prefix and the owner mark), the world
(nodes, PFs, VFs and their fake PCI addresses), the pods, and a LIFO *persistent* undo log: every
creation appends the action that removes it, before the next step runs. Deploy unwinds it on failure,
Ctrl-C or SIGTERM; `bondlab destroy` unwinds the same log later from another process.

On disk every step costs O(1), whatever the lab's size (rewriting one file with everything in it on
each step made deploy/destroy time per pod grow with the number of pods):
- `lab.json`: everything but the pods and the undo log (written by save(), i.e. rarely);
- `pods/<seq>.json`: one file per pod (put_pod() writes just that one, forget_pod() removes it);
- `undo.log`: a journal, one line per defer() (`+{json}`) and per finished undo step (`-`).
In memory everything is a typed attribute: the PFs, peers and pods are records (world.records: `pfs`,
`peers`, `pods`), the rest is named below (`name`, `id`, `nodes`, `plugin`, ..., `undo`); save() writes all
of it, under the keys lab.json has always had.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import Callable, Optional

from bondlab.util import names
from bondlab.util.paths import state_dir
from bondlab.world.records import Docker, Peer, Pf, Pod, Switch


class LabError(Exception):
    """A lab-level failure with a message fit for the user (names the object)."""


def labs_dir() -> Path:
    return state_dir() / "labs"


def mark(lab_id: str) -> str:
    return f"{names.OWNER_MARK}{lab_id}"


class LabState:
    def __init__(
        self, path: Path, name: str, id: str, pfs=(), peers=(), pods=(), undo=(), switches=()
    ) -> None:
        self.dir, self.name, self.id = path, name, id  # id: the `bl-<id>-` netns prefix, the owner mark
        self.pfs: list = list(pfs)  # Pf, in the order the world made them
        self.peers: dict = {peer.name: peer for peer in peers}  # name -> Peer
        self.switches: dict = {sw.name: sw for sw in switches}  # name -> Switch (the fabric's)
        self.pods: list = list(pods)  # Pod, by seq
        self.undo: list = list(undo)  # the undo log, oldest first: {op, **args}
        self.nodes: dict = {}  # node name -> its netns (world.build)
        self.plugin: Optional[str] = None  # the bond plugin binary deployed (its real path)
        self.cni_path: Optional[str] = None  # the CNI_PATH the lab's plugins run from (cni.multus)
        self.pod_backend = "netns"  # "netns" or "docker" (world.pods)
        self.docker: Optional[Docker] = None  # the engine and image of docker pods
        self.lacp_partners: dict = {}  # the scapy partner (speaker: {pid, spec}); the switches' bonds (lags)
        self.last_cut: list = []  # switch ports `bondlab cut --active POD` cut, for `restore --active POD`

    # the attributes above as lab.json names them (a lab written by an older bondlab may lack some)
    KEYS = {
        "nodes": "nodes",
        "plugin": "plugin",
        "cni_path": "cni_path",
        "pod_backend": "pod_backend",
        "docker": "docker",
        "lacp_partners": "lacpPartners",
        "last_cut": "last_cut",
    }

    # -- on disk ------------------------------------------------------------------------------
    @classmethod
    def create(cls, name: str) -> LabState:
        path = labs_dir() / name
        if (path / "lab.json").exists():
            raise LabError(f"a lab named {name!r} is already deployed; `bondlab destroy --name {name}` first")
        path.mkdir(parents=True, exist_ok=True)
        state = cls(path, name, secrets.token_hex(3))
        state.save()
        return state

    @classmethod
    def read(cls, path: Path) -> LabState:
        """The lab recorded in directory `path` (lab.json + pods/ + undo.log)."""
        data = json.loads((path / "lab.json").read_text())
        undo: list = []
        try:
            lines = (path / "undo.log").read_text().splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            if line == "-":
                if undo:
                    undo.pop()
            elif line.startswith("+"):
                try:
                    undo.append(json.loads(line[1:]))
                except ValueError:
                    break  # a line cut short by a crash: the last step was not logged
        pods = []
        for file in (path / "pods").glob("*.json"):
            try:
                pods.append(Pod.from_dict(json.loads(file.read_text())))
            except (OSError, ValueError):
                continue
        pfs = [Pf.from_dict(pf) for pf in data.get("pfs", [])]
        peers = [Peer.from_dict(peer) for peer in data.get("peers", [])]
        switches = [Switch.from_dict(sw) for sw in data.get("switches", [])]
        pods = sorted(pods, key=lambda pod: pod.seq)
        state = cls(path, data["name"], data["id"], pfs, peers, pods, undo, switches)
        for attr, key in cls.KEYS.items():
            if key in data:
                setattr(state, attr, data[key])
        if state.docker is not None:
            state.docker = Docker.from_dict(state.docker)
        return state

    @classmethod
    def load(cls, name: Optional[str] = None) -> LabState:
        if name is None:
            found = list_labs()
            if len(found) != 1:
                raise LabError(
                    "no lab is deployed"
                    if not found
                    else f"several labs are deployed ({', '.join(found)}); say which with --name"
                )
            name = found[0]
        try:
            return cls.read(labs_dir() / name)
        except FileNotFoundError:
            raise LabError(f"no lab named {name!r} is deployed") from None

    def _write(self, name: str, text: str) -> None:
        tmp = self.dir / f"{name}.tmp{os.getpid()}"
        tmp.write_text(text)
        os.replace(tmp, self.dir / name)

    def save(self) -> None:
        """Write everything (O(size of the lab)): for changes other than one pod's or the undo log's."""
        for pod in self.pods:
            self._write_pod(pod)
        journal = "".join("+" + json.dumps(step) + "\n" for step in self.undo)
        self._write("undo.log", journal)
        rest = {"name": self.name, "id": self.id}
        for attr, key in self.KEYS.items():
            value = getattr(self, attr)
            rest[key] = value.to_dict() if isinstance(value, Docker) else value
        rest["pfs"] = [pf.to_dict() for pf in self.pfs]
        rest["peers"] = [peer.to_dict() for peer in self.peers.values()]
        rest["switches"] = [sw.to_dict() for sw in self.switches.values()]
        self._write("lab.json", json.dumps(rest, indent=1))

    # -- the records ---------------------------------------------------------------------------
    def next_seq(self) -> int:
        """The place of a new pod in the order (its file name too)."""
        return 1 + max((pod.seq for pod in self.pods), default=0)

    def _write_pod(self, pod: Pod) -> None:
        (self.dir / "pods").mkdir(exist_ok=True)
        self._write(f"pods/{pod.seq:06d}.json", json.dumps(pod.to_dict()))

    def put_pod(self, pod: Pod) -> Pod:
        """Record a pod, new or changed (the one with its seq is replaced), and write just its file (O(1))."""
        at = next((i for i, old in enumerate(self.pods) if old.seq == pod.seq), None)
        if at is None:
            self.pods.append(pod)
        else:
            self.pods[at] = pod
        self._write_pod(pod)
        return pod

    def forget_pod(self, pod: Pod) -> None:
        """Remove a pod from the record (memory and disk)."""
        self.pods = [old for old in self.pods if old.seq != pod.seq]
        try:
            os.unlink(self.dir / "pods" / f"{pod.seq:06d}.json")
        except FileNotFoundError:
            pass

    def pod(self, name: str) -> Pod:
        """A pod by NAMESPACE/NAME or NAME."""
        for pod in self.pods:
            if name in (pod.key, pod.name):
                return pod
        known = ", ".join(pod.key for pod in self.pods) or "none"
        raise LabError(f"no pod {name!r} in lab {self.name} (pods: {known})")

    def pf(self, node: str, name: str) -> Pf:
        for pf in self.pfs:
            if pf.node == node and pf.name == name:
                return pf
        raise LabError(f"no PF {name!r} on node {node!r}")

    def switch(self, name: str) -> Switch:
        try:
            return self.switches[name]
        except KeyError:
            known = ", ".join(self.switches) or "none"
            raise LabError(f"no switch {name!r} in lab {self.name} (switches: {known})") from None

    def _journal(self, line: str) -> None:
        with open(self.dir / "undo.log", "a") as stream:
            stream.write(line + "\n")

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- identity -----------------------------------------------------------------------------
    @property
    def mark(self) -> str:
        return mark(self.id)

    def netns_name(self, role: str) -> str:
        return f"{names.PREFIX}-{self.id}-{role}"

    # -- the undo log --------------------------------------------------------------------------
    def defer(self, op: str, **args) -> None:
        step = {"op": op, **args}
        self.undo.append(step)
        self._journal("+" + json.dumps(step))

    def unwind(self, handlers: dict, progress: Optional[Callable] = None) -> list:
        """Run the undo log newest first; a failing step is reported and the rest still run."""
        errors = []
        while self.undo:
            step = self.undo[-1]
            args = {k: v for k, v in step.items() if k != "op"}
            try:
                handlers[step["op"]](self, **args)
            except Exception as error:
                errors.append(f"{step['op']} {args}: {error}")
            self.undo.pop()
            self._journal("-")
            if progress:
                progress()
        if errors:
            print("bondlab: some teardown steps failed:\n  " + "\n  ".join(errors), file=sys.stderr)
        return errors


def list_labs() -> list:
    try:
        return sorted(p.name for p in labs_dir().iterdir() if (p / "lab.json").exists())
    except FileNotFoundError:
        return []
