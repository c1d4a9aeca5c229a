"""Scenario files: load, validate against scenario.schema.json, and check every name they use.

A scenario file is a YAML stream. Its first document is `kind: Scenario` (what to run); the others are the
lab's input exactly as `bondlab deploy` takes it (NADs, Pods, DaemonSets, optionally a `kind: BondLab`
topology), inline or from `spec.lab.files` (paths relative to the scenario file). Errors name the file,
the line and the path inside the document (`scenarios/x.yaml:12: Scenario x: spec.steps[2].cut: ...`).

The schema is the single source of truth for the shape; `validate()` implements the subset of JSON
Schema it uses (type, enum, pattern, required, properties, additionalProperties, min/maxProperties,
items, minItems, minimum/maximum, $ref), so no extra dependency is needed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from bondlab.model import flows as shapes
from bondlab.model.yamlsrc import LDict, LList, SourceError, load_all, load_files, where

# package data; scenarios/schema.json links it
SCHEMA = Path(__file__).resolve().parents[1] / "scenario.schema.json"


@lru_cache(maxsize=1)
def schema() -> dict:
    with open(SCHEMA) as stream:
        return json.load(stream)


_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
}


def _type_ok(value: Any, kinds) -> bool:
    for kind in [kinds] if isinstance(kinds, str) else kinds:
        if kind in ("integer", "number") and isinstance(value, bool):
            continue
        if isinstance(value, _TYPES[kind]):
            return True
    return False


def validate(value: Any, node: dict, path: str, parent: Any, key: Any, subject: str) -> None:
    """Raise SourceError at the offending value's line, naming its path and what was expected."""
    root = schema()
    while "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[1]]

    def fail(message: str, at_parent: Any = parent, at_key: Any = key) -> None:
        raise SourceError(message, where(at_parent, at_key, where(value)), path, subject)

    if "enum" in node and value not in node["enum"]:
        fail(f"expected one of {', '.join(map(str, node['enum']))}, got {value!r}")
    if "type" in node and not _type_ok(value, node["type"]):
        kinds = node["type"] if isinstance(node["type"], list) else [node["type"]]
        fail(f"expected {' or '.join(kinds)}, got {type(value).__name__ if value is not None else 'nothing'}")
    if isinstance(value, str) and "pattern" in node and not re.search(node["pattern"], value):
        fail(f"{value!r} does not match: {node.get('description') or node['pattern']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in node and value < node["minimum"]:
            fail(f"must be at least {node['minimum']}, got {value}")
        if "maximum" in node and value > node["maximum"]:
            fail(f"must be at most {node['maximum']}, got {value}")
    if isinstance(value, dict):
        props = node.get("properties", {})
        for name in node.get("required", []):
            if name not in value:
                fail(f"missing required key {name!r}")
        if node.get("additionalProperties") is False:
            for name in value:
                if name not in props:
                    fail(f"unknown key {name!r} (expected one of: {', '.join(props)})", value, name)
        if len(value) < node.get("minProperties", 0):
            fail(f"expected at least {node['minProperties']} key(s), one of: {', '.join(props)}")
        if "maxProperties" in node and len(value) > node["maxProperties"]:
            fail(f"expected exactly one of: {', '.join(props)}; got {', '.join(value)}")
        for name, child in value.items():
            if name in props:
                validate(child, props[name], f"{path}.{name}" if path else name, value, name, subject)
    if isinstance(value, list):
        if len(value) < node.get("minItems", 0):
            fail(f"expected at least {node['minItems']} item(s)")
        if "items" in node:
            for index, child in enumerate(value):
                validate(child, node["items"], f"{path}[{index}]", value, index, subject)


def duration(value: Any) -> float:
    """'100ms' / '1.5s' / 100 (ms) -> seconds."""
    if isinstance(value, int):
        return value / 1000
    text = str(value)
    return float(text[:-2]) / 1000 if text.endswith("ms") else float(text[:-1])


@dataclass
class Step:
    """One step: its kind (an action name, or "expect"), its arguments as written (`raw`, for messages) and
    typed (`args`: durations in seconds; for `expect`, expectation kind -> its arguments), where it is."""

    index: int
    kind: str
    raw: Any
    where: str
    args: Any = None

    def __post_init__(self) -> None:
        if self.args is None:
            self.args = parse_args(self.kind, self.raw)

    @property
    def is_action(self) -> bool:
        return self.kind != "expect"

    def describe(self) -> str:
        if self.kind == "wait":
            return f"wait {self.raw}"
        if isinstance(self.raw, dict):
            return f"{self.kind} " + " ".join(f"{k}={_short(v)}" for k, v in self.raw.items())
        return f"{self.kind} {self.raw}"


def parse_args(kind: str, raw: Any) -> Any:
    """A step's arguments, typed once by the schema: every `duration` becomes seconds (float)."""
    defs = schema()["$defs"]
    return _typed(raw, defs["step"]["properties"][kind], defs)


def _typed(value: Any, node: dict, defs: dict) -> Any:
    if node.get("$ref") == "#/$defs/duration":
        return duration(value)
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[1]]
    if isinstance(value, dict):
        props = node.get("properties", {})
        return {k: _typed(v, props[k], defs) if k in props else v for k, v in value.items()}
    if isinstance(value, list) and "items" in node:
        return [_typed(v, node["items"], defs) for v in value]
    return value


def step(index: int, raw: dict, where_: str, subject: str) -> Step:
    """A step written in Python ({kind: args}): checked against the schema, located at `where_`."""
    try:
        validate(raw, {"$ref": "#/$defs/step"}, "", None, None, subject)
    except SourceError as error:
        raise SourceError(error.message, where_, error.path, error.subject) from None
    ((kind, args),) = raw.items()
    return Step(index, kind, args, where_)


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


@dataclass
class Scenario:
    path: str
    name: str
    description: str = ""
    requires: list = field(default_factory=list)
    expect_failure: Optional[str] = None
    deploy_fails: Optional[dict] = None
    files: list = field(default_factory=list)  # the lab's input: spec.lab.files, then this file
    documents: list = field(default_factory=list)  # their YAML documents, each file read once
    backend: str = "veth"
    rate: int = 1000
    flows: list = field(default_factory=list)  # raw flow mappings
    steps: list = field(default_factory=list)
    doc: Any = None

    @property
    def subject(self) -> str:
        return f"Scenario {self.name}"

    def error(self, message: str, value: Any = None, key: Any = None, path: str = "") -> SourceError:
        return SourceError(
            message, where(value if value is not None else self.doc, key, self.path), path, self.subject
        )


def load(path: str) -> Scenario:
    """Read and validate one scenario file (shape only; names are checked by check_names())."""
    try:
        with open(path) as stream:
            text = stream.read()
    except OSError as error:
        raise SourceError(f"cannot read: {error.strerror}", where=path) from None
    docs = load_all(text, path)
    if not docs or not isinstance(docs[0], LDict) or docs[0].get("kind") != "Scenario":
        raise SourceError(
            "the first YAML document must be `kind: Scenario` (see scenarios/README.md)",
            where=where(docs[0]) if docs else path,
        )
    doc = docs[0]
    name = doc.get("metadata", {}).get("name", "?") if isinstance(doc.get("metadata"), dict) else "?"
    validate(doc, schema(), "", None, None, f"Scenario {name}")
    spec = doc["spec"]
    lab = spec.get("lab", {})
    traffic = spec.get("traffic", {})
    scen = Scenario(
        path=path,
        name=name,
        description=spec.get("description", ""),
        requires=list(spec.get("requires", [])),
        expect_failure=spec.get("expectFailure"),
        deploy_fails=spec.get("deployFails"),
        backend=lab.get("backend", "veth"),
        rate=traffic.get("rate", 1000),
        flows=list(traffic.get("flows", [])),
        doc=doc,
    )
    base = os.path.dirname(path)
    for index, rel in enumerate(lab.get("files", [])):
        full = os.path.normpath(os.path.join(base, rel))
        if not os.path.isfile(full):
            raise scen.error(
                f"no such file {rel!r} (looked for {full})", lab["files"], index, f"spec.lab.files[{index}]"
            )
        scen.files.append(full)
    scen.documents = load_files(scen.files)
    scen.files.append(path)
    scen.documents += docs  # the lab takes this file's other documents (and ignores the Scenario)
    for index, flow in enumerate(scen.flows):
        try:
            shapes.shape(flow)
        except shapes.ShapeError as error:
            at = f"spec.traffic.flows[{index}].{error.key}"
            raise scen.error(str(error), flow, error.key, at) from None
    steps = spec["steps"]
    for index, raw in enumerate(steps):
        ((kind, args),) = raw.items()
        needs = needs_flows(kind, args)
        if needs and not scen.flows:
            raise scen.error(
                f"{', '.join(needs)}: this expectation needs traffic: add spec.traffic.flows",
                steps,
                index,
                f"spec.steps[{index}].{kind}",
            )
        for name, value in args.items() if kind == "expect" else []:
            lo, hi = (value.get(k) if isinstance(value, dict) else None for k in ("min", "max"))
            if isinstance(lo, int) and isinstance(hi, int) and lo > hi:  # counts (durations are strings)
                raise scen.error(
                    f"min {value['min']} > max {value['max']}",
                    value,
                    "min",
                    f"spec.steps[{index}].expect.{name}",
                )
        scen.steps.append(Step(index, kind, args, where(steps, index, path)))
    return scen


def needs_flows(kind: str, args: Any) -> list:
    """The expectations of a step that mean nothing without traffic flows (run.steps says which)."""
    from bondlab.run.steps import STEPS

    return [name for name in args if STEPS[name].needs_flows] if kind == "expect" else []


def discover(paths: list) -> list:
    """Scenario files under the given files/folders (sorted; `lib/` folders hold shared input only)."""
    out = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d != "lib" and not d.startswith("."))
                out += [os.path.join(root, f) for f in sorted(files) if f.endswith((".yaml", ".yml"))]
        else:
            out.append(path)
    return out


# -- names: every pod, link, peer and PF a scenario mentions must exist in the lab it deploys ----------
def check_names(scen: Scenario, prepared) -> None:
    """Raise SourceError at the step naming something the lab will not have (before anything is made)."""
    pods = {}
    for plan in prepared.plans:
        ifaces = {d.ifname for d in plan.delegates}
        for d in plan.delegates:
            for plugin in d.config.get("plugins") or [d.config]:
                if plugin.get("type") == "bond":
                    ifaces |= {
                        link.get("name") for link in plugin.get("links") or [] if isinstance(link, dict)
                    }
        pods[plan.pod.name] = ifaces
        pods[plan.pod.key] = ifaces
    peers = {p.name for p in prepared.topology.peers}
    pfs = {f"{n.name}/{p.name}" for n in prepared.topology.nodes for p in n.pfs}
    spec = scen.doc["spec"]

    def pod_names() -> str:
        return ", ".join(sorted(p for p in pods if "/" not in p))

    def pod_ok(value: str, parent, key, path) -> None:
        pod = value.split("/")[0] if value.count("/") <= 1 and value.split("/")[0] in pods else value
        if value in pods or pod in pods:
            return
        raise scen.error(
            f"unknown pod {value!r} (pods: {pod_names()})",
            parent,
            key,
            path,
        )

    def link_ok(value: str, parent, key, path) -> None:
        pod, _, iface = value.rpartition("/")
        if pod not in pods:
            raise scen.error(
                f"unknown pod {pod!r} in {value!r} (pods: {pod_names()})",
                parent,
                key,
                path,
            )
        if iface not in pods[pod]:
            raise scen.error(
                f"pod {pod} has no link {iface!r} (links: {', '.join(sorted(pods[pod]))})", parent, key, path
            )

    def endpoint_ok(value: str, parent, key, path) -> None:
        if value in peers:
            return
        if value.split("/")[0] in pods or value in pods:
            return
        raise scen.error(
            f"unknown endpoint {value!r} (pods: {pod_names()}; peers: {', '.join(sorted(peers)) or 'none'})",
            parent,
            key,
            path,
        )

    def peer_ok(value: str, parent, key, path) -> None:
        if value not in peers:
            raise scen.error(
                f"unknown peer {value!r} (peers: {', '.join(sorted(peers)) or 'none'})", parent, key, path
            )

    def pf_ok(value: str, parent, key, path) -> None:
        if value not in pfs:
            raise scen.error(f"unknown PF {value!r} (NODE/PF: {', '.join(sorted(pfs))})", parent, key, path)

    flows = spec.get("traffic", {}).get("flows", [])
    for i, flow in enumerate(flows):
        for key in ("from", "to"):
            endpoint_ok(flow[key], flow, key, f"spec.traffic.flows[{i}].{key}")
            why = flow.get("family") == "ipv6" and shapes.missing_ipv6(flow[key], prepared)
            if why:
                raise scen.error(f"family ipv6: {why}", flow, "family", f"spec.traffic.flows[{i}].family")
    names = {_flow_name(f) for f in flows} | {
        _flow_name(f, reverse=True) for f in flows if f.get("bidirectional", True)
    }
    checks = {"active": pod_ok, "vf": link_ok, "link": link_ok, "pf": pf_ok, "uplink": pf_ok}
    checks.update(pod=pod_ok, peer=peer_ok)
    for index, step in enumerate(spec["steps"]):
        ((kind, args),) = step.items()
        base = f"spec.steps[{index}].{kind}"
        items = args.items() if isinstance(args, LDict) else []
        if kind == "expect":
            items = [(f"{k}.{kk}", vv, v) for k, v in args.items() for kk, vv in v.items()]
        else:
            items = [(k, v, args) for k, v in items]
        for key, value, parent in items:
            leaf = key.rsplit(".", 1)[-1]
            if leaf in checks and isinstance(value, str):
                checks[leaf](value, parent, leaf, f"{base}.{key}")
            if leaf == "links" and isinstance(value, LList):
                for j, link in enumerate(value):
                    link_ok(link, value, j, f"{base}.{key}[{j}]")
            if leaf in ("from", "to") and isinstance(value, LList):
                for j, name in enumerate(value):
                    endpoint_ok(name, value, j, f"{base}.{key}[{j}]")
            if leaf == "flow" and value not in names:
                raise scen.error(
                    f"unknown flow {value!r} (flows: {', '.join(sorted(names))})",
                    parent,
                    leaf,
                    f"{base}.{key}",
                )


def _flow_name(flow: dict, reverse: bool = False) -> str:
    a, b = (flow["to"], flow["from"]) if reverse else (flow["from"], flow["to"])
    return f"{a} -> {b}"
