"""The Kubernetes objects the lab reads, exactly as users paste them: NetworkAttachmentDefinitions,
Pods and DaemonSets (one pod per lab node). Other kinds (ConfigMap, IPPool, ...) are ignored.

Parsing follows Multus: the `k8s.v1.cni.cncf.io/networks` annotation in its text form
(`[ns/]name[@ifname], ...`) or its JSON-list form; a NAD's `k8s.v1.cni.cncf.io/resourceName`
annotation names the device-plugin pool its delegate takes a device from.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Optional

from bondlab.model.yamlsrc import SourceError, get, where

NETWORKS = "k8s.v1.cni.cncf.io/networks"
RESOURCE = "k8s.v1.cni.cncf.io/resourceName"
NAD_KIND = "NetworkAttachmentDefinition"
# RFC 1123 label (pod and NAD names, namespaces)
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class Nad:
    name: str
    namespace: str
    config: dict  # the parsed spec.config (a CNI network config or conflist)
    raw: str
    resource: Optional[str]
    where: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Selection:
    """One element of a pod's networks annotation."""

    name: str
    namespace: Optional[str] = None
    interface: Optional[str] = None
    mac: Optional[str] = None
    cni_args: Optional[dict] = None

    def namespace_in(self, pod_namespace: str) -> str:
        """The NAD's namespace: the selection's own, else the pod's (Multus)."""
        return self.namespace or pod_namespace

    def nad_key(self, pod_namespace: str) -> str:
        return f"{self.namespace_in(pod_namespace)}/{self.name}"

    def ifname(self, position: int) -> str:
        """The interface for the `position`-th network (from 1): the annotation's, else netN (Multus)."""
        return self.interface or f"net{position}"


@dataclass
class PodSpec:
    name: str
    namespace: str
    networks: list
    requests: dict  # resourceName -> count
    node: Optional[str]
    where: str
    owner: str = ""  # "DaemonSet ns/name" for daemonset pods
    uid: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class Objects:
    nads: dict = field(default_factory=dict)  # "ns/name" -> Nad
    pods: list = field(default_factory=list)  # PodSpec (daemonset pods are expanded per node later)
    daemonsets: list = field(default_factory=list)  # (PodSpec template, where)
    topologies: list = field(default_factory=list)  # raw `kind: BondLab` documents
    ignored: list = field(default_factory=list)  # "kind name (file:line)"


def _subject(kind: str, meta: dict) -> str:
    name = meta.get("name", "?") if isinstance(meta, dict) else "?"
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return f"{kind} {ns or 'default'}/{name}"


def _metadata(doc: dict, kind: str) -> tuple:
    meta = get(doc, "metadata", dict, "", kind, required=True)
    subject = _subject(kind, meta)
    name = get(meta, "name", str, "metadata", subject, required=True)
    if not _NAME.match(name):
        raise SourceError(
            f"{name!r} is not a valid name (lower-case RFC 1123)",
            where(meta, "name"),
            "metadata.name",
            subject,
        )
    namespace = get(meta, "namespace", str, "metadata", subject, default="default")
    annotations = get(meta, "annotations", dict, "metadata", subject, default={}) or {}
    for key in annotations:
        get(annotations, key, str, "metadata.annotations", subject)
    return name, namespace, annotations, subject


def _embedded_json(text: str, what: str, at: str, path: str, subject: str):
    """JSON inside a YAML string (a NAD's config, the networks annotation): its error says where in it."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise SourceError(
            f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno} of {what} "
            f"(near {text[max(0, error.pos - 20) : error.pos + 10]!r})",
            at,
            path,
            subject,
        ) from None


def parse_nad(doc: dict) -> Nad:
    name, namespace, annotations, subject = _metadata(doc, NAD_KIND)
    spec = get(doc, "spec", dict, "", subject, required=True)
    raw = get(spec, "config", str, "spec", subject, required=True)
    config = _embedded_json(raw, "the config", where(spec, "config"), "spec.config", subject)
    if not isinstance(config, dict):
        raise SourceError("expected a JSON object", where(spec, "config"), "spec.config", subject)
    if "type" not in config and "plugins" not in config:
        raise SourceError(
            "the CNI config has neither `type` nor `plugins`", where(spec, "config"), "spec.config", subject
        )
    resource = annotations.get(RESOURCE) or None
    return Nad(name, namespace, config, raw, resource, where(doc))


def parse_networks(text: str, subject: str, at: str) -> list:
    """The networks annotation, in Multus's two forms; an empty annotation means no networks."""
    text = text.strip()
    path = f"metadata.annotations[{NETWORKS}]"
    if not text:
        return []
    if text.startswith("["):
        items = _embedded_json(text, "the network selection annotation", at, path, subject)
        out = []
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
                raise SourceError(
                    f"element {index}: expected an object with a string `name`, got {json.dumps(item)}",
                    at,
                    path,
                    subject,
                )
            for key in ("namespace", "interface", "mac"):
                if key in item and not isinstance(item[key], str):
                    raise SourceError(f"element {index}: `{key}` must be a string", at, path, subject)
            out.append(
                Selection(
                    item["name"],
                    item.get("namespace"),
                    item.get("interface"),
                    item.get("mac"),
                    item.get("cni-args"),
                )
            )
        return out
    out = []
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(?:([^/@\s]+)/)?([^/@\s]+)(?:@([^/@\s]+))?", part)
        if not match:
            raise SourceError(
                f"cannot parse network selection {part!r} (expected [namespace/]name[@interface])",
                at,
                path,
                subject,
            )
        out.append(Selection(match.group(2), match.group(1), match.group(3)))
    return out


def _requests(spec: dict, subject: str, path: str) -> dict:
    totals: dict = {}
    containers = get(spec, "containers", list, path, subject, default=[]) or []
    for index, container in enumerate(containers):
        cpath = f"{path}.containers[{index}]"
        if not isinstance(container, dict):
            raise SourceError("expected a mapping", where(containers, index), cpath, subject)
        resources = get(container, "resources", dict, cpath, subject, default={}) or {}
        requests = get(resources, "requests", dict, f"{cpath}.resources", subject, default={}) or {}
        limits = get(resources, "limits", dict, f"{cpath}.resources", subject, default={}) or {}
        # Extended resources: a limit alone sets the request too; both must agree (API validation).
        for name in set(requests) | set(limits):
            if "/" not in str(name):
                continue  # cpu, memory: not ours
            raw = requests.get(name, limits.get(name))
            try:
                count = int(str(raw))
            except ValueError:
                raise SourceError(
                    f"expected a whole number of devices, got {raw!r}",
                    where(requests if name in requests else limits, name),
                    f"{cpath}.resources.requests[{name}]",
                    subject,
                ) from None
            totals[name] = totals.get(name, 0) + count
    return totals


def _pod_like(meta_doc: dict, spec: dict, kind_subject: str, spec_path: str, name: str, ns: str, at: str):
    annotations = (meta_doc.get("metadata") or {}).get("annotations") or {}
    networks = parse_networks(annotations.get(NETWORKS, ""), kind_subject, where(annotations, NETWORKS, at))
    node = spec.get("nodeName") if isinstance(spec.get("nodeName"), str) else None
    return PodSpec(name, ns, networks, _requests(spec, kind_subject, spec_path), node, at)


def parse_pod(doc: dict) -> PodSpec:
    name, namespace, _annotations, subject = _metadata(doc, "Pod")
    spec = get(doc, "spec", dict, "", subject, default={}) or {}
    return _pod_like(doc, spec, subject, "spec", name, namespace, where(doc))


def parse_daemonset(doc: dict) -> PodSpec:
    name, namespace, _annotations, subject = _metadata(doc, "DaemonSet")
    spec = get(doc, "spec", dict, "", subject, required=True)
    template = get(spec, "template", dict, "spec", subject, required=True)
    tspec = get(template, "spec", dict, "spec.template", subject, default={}) or {}
    get(template, "metadata", dict, "spec.template", subject, default={})
    pod = _pod_like(template, tspec, subject, "spec.template.spec", name, namespace, where(doc))
    pod.owner = f"DaemonSet {namespace}/{name}"
    return pod


def classify(docs: list) -> Objects:
    objects = Objects()
    for doc in docs:
        if not isinstance(doc, dict):
            raise SourceError(
                f"expected a mapping (a Kubernetes object), got {type(doc).__name__}", where(doc)
            )
        kind = doc.get("kind")
        if kind == NAD_KIND:
            nad = parse_nad(doc)
            if nad.key in objects.nads:
                raise SourceError(
                    f"defined twice (first at {objects.nads[nad.key].where})",
                    nad.where,
                    "",
                    f"{kind} {nad.key}",
                )
            objects.nads[nad.key] = nad
        elif kind == "Pod":
            pod = parse_pod(doc)
            if any(p.key == pod.key for p in objects.pods):
                raise SourceError("defined twice", pod.where, "", f"Pod {pod.key}")
            objects.pods.append(pod)
        elif kind == "DaemonSet":
            objects.daemonsets.append(parse_daemonset(doc))
        elif kind == "BondLab":
            objects.topologies.append(doc)
        else:
            meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
            objects.ignored.append(f"{kind} {meta.get('name', '?')} ({where(doc)})")
    return objects
