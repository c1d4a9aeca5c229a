"""What lint reads: NAD/Pod/DaemonSet YAML (parsed by the lab's own model) or a bare CNI JSON config, as
bond configs that know their file and lines and, through the pods that attach them, the NADs their links
come from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional

from bondlab.model import derive, k8s, topology, yamlsrc
from bondlab.model.yamlsrc import SourceError


@dataclass(frozen=True)
class Text:
    """One input file's lines, to point a finding at the line that holds a key or a name."""

    file: str
    lines: tuple

    def find(self, start: int, needle: str) -> int:
        """The first line from `start` (1-based) holding `needle` (case-insensitive), within the same YAML
        document; `start` when none does."""
        needle = needle.lower()
        for number in range(max(start, 1), len(self.lines) + 1):
            line = self.lines[number - 1]
            if number > start and line.startswith("---"):
                break
            if needle in line.lower():
                return number
        return start


@dataclass
class Bond:
    """One bond plugin config (a NAD's spec.config, one of a conflist's plugins, or a bare JSON file)."""

    config: dict  # as the plugin receives it: a conflist's cniVersion and name filled in
    text: Text
    line: int  # the line of spec.config (1 for a bare JSON file)
    nad: Optional[k8s.Nad] = None
    pods: list = field(default_factory=list)  # PodSpecs that attach this NAD

    def line_of(self, key: str) -> int:
        return self.text.find(self.line, f'"{key}"')

    @property
    def subject(self) -> str:
        return f"NAD {self.nad.key}" if self.nad else f"config {self.config.get('name', '?')!r}"


@dataclass
class Inputs:
    bonds: list = field(default_factory=list)
    objects: k8s.Objects = field(default_factory=k8s.Objects)
    pods: list = field(default_factory=list)  # (PodSpec, Text, networks annotation line)
    pools: dict = field(default_factory=dict)  # resourceName -> [(node, topology.PF)] from BondLab docs
    nodes: list = field(default_factory=list)  # node names from BondLab docs
    texts: dict = field(default_factory=dict)  # file -> Text

    def nad(self, pod: k8s.PodSpec, selection: k8s.Selection) -> Optional[k8s.Nad]:
        return derive.resolve(self.objects, pod, selection)

    def link_nads(self, bond: Bond) -> dict:
        """link name -> the NAD each attaching pod takes it from (Multus names the n-th network netN)."""
        out: dict = {}
        for pod in bond.pods:
            for position, selection in enumerate(pod.networks, start=1):
                out.setdefault(selection.ifname(position), self.nad(pod, selection))
        return out


def _read(path: str) -> Text:
    try:
        with open(path) as stream:
            return Text(path, tuple(stream.read().splitlines()))
    except (OSError, UnicodeDecodeError) as error:
        raise SourceError(f"cannot read: {getattr(error, 'strerror', None) or error}", where=path) from None


def _bonds_of(config: dict, text: Text, line: int, nad=None) -> list:
    out = []
    for plugin in derive.plugins(config):
        if isinstance(plugin, dict) and plugin.get("type") == "bond":
            effective = dict(plugin)
            for key in ("cniVersion", "name"):  # a conflist's, as libcni hands them to each plugin
                if key in config and key not in effective:
                    effective[key] = config[key]
            out.append(Bond(effective, text, line, nad))
    return out


def _json_file(text: Text) -> list:
    body = "\n".join(text.lines)
    try:
        config = json.loads(body)
    except json.JSONDecodeError as error:
        raise SourceError(f"not valid JSON: {error.msg}", where=f"{text.file}:{error.lineno}") from None
    if not isinstance(config, dict):
        raise SourceError("expected a JSON object (a CNI config or conflist)", where=f"{text.file}:1")
    return _bonds_of(config, text, 1)


def load(paths: list) -> Inputs:
    """Every file parsed once; bad YAML, JSON or Kubernetes objects raise SourceError (file:line)."""
    inputs = Inputs()
    docs, texts = [], {}
    for path in paths:
        text = texts[path] = _read(path)
        if text.lines and text.lines[0].lstrip().startswith("{") or path.endswith(".json"):
            inputs.bonds.extend(_json_file(text))
        else:
            docs.extend(yamlsrc.load_all("\n".join(text.lines), path))
    inputs.objects = k8s.classify(docs)
    for doc in inputs.objects.topologies:
        try:
            topo = topology.parse(doc)
            inputs.pools.update(topo.pools())
            inputs.nodes += [node.name for node in topo.nodes if node.name not in inputs.nodes]
        except ValueError as error:
            raise SourceError(str(error), where=yamlsrc.where(doc)) from None
    for nad in inputs.objects.nads.values():
        spec_config = next(
            d["spec"] for d in docs if d.get("kind") == k8s.NAD_KIND and yamlsrc.where(d) == nad.where
        )
        text = texts[nad.where.rsplit(":", 1)[0]]
        inputs.bonds.extend(_bonds_of(nad.config, text, spec_config.lines["config"], nad))
    attached = list(inputs.objects.pods) + list(inputs.objects.daemonsets)
    for pod in attached:
        annotations = _annotations(docs, pod)
        text = texts[pod.where.rsplit(":", 1)[0]]
        line = annotations.lines.get(k8s.NETWORKS, 0) if annotations else 0
        inputs.pods.append((pod, text, line or int(pod.where.rsplit(":", 1)[1])))
    inputs.texts = texts
    for bond in inputs.bonds:
        if bond.nad:
            bond.pods = [p for p in attached if any(inputs.nad(p, s) is bond.nad for s in p.networks)]
    return inputs


def _annotations(docs: list, pod: k8s.PodSpec):
    doc = next(d for d in docs if yamlsrc.where(d) == pod.where)
    if doc.get("kind") == "DaemonSet":
        doc = doc["spec"]["template"]
    meta = doc.get("metadata") or {}
    return meta.get("annotations") if isinstance(meta.get("annotations"), yamlsrc.LDict) else None
