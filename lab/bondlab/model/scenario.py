"""Scenario files: read once into a typed, frozen `Scenario`, and checked against the lab they deploy.

A scenario file is a YAML stream. Its first document is `kind: Scenario` (what to run); the others are the
lab's input exactly as `bondlab deploy` takes it (NADs, Pods, DaemonSets, optionally a `kind: BondLab`
topology), inline or from `spec.lab.files` (paths relative to the scenario file). `load()` validates the
file against the schema (model.schema) and resolves it once: steps typed (model.steps), flows expanded into
their directions with their shapes (model.flows), every name parsed (model.endpoints), each with its line;
no YAML is kept to walk again. Errors name the file, the line and the path inside the document
(`scenarios/x.yaml:12: Scenario x: spec.steps[2].cut: ...`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from bondlab.model import endpoints, flows, requirements, schema, steps, topology
from bondlab.model.yamlsrc import LDict, SourceError, load_all, load_files, where


@dataclass(frozen=True)
class Scenario:
    path: str
    name: str
    description: str = ""
    requires: requirements.Requirements = requirements.Requirements()  # of the kernel (spec.requires)
    expect_failure: Optional[str] = None
    deploy_fails: Optional[dict] = None  # {match: TEXT}: the deploy must fail, saying TEXT
    files: tuple = ()  # the lab's input: spec.lab.files, then this file
    documents: tuple = ()  # their YAML documents, each file read once
    backend: str = "veth"
    rate: int = 1000
    flows: tuple = ()  # flows.Flow, one per direction, in the order written
    steps: tuple = ()  # steps.Step

    @property
    def subject(self) -> str:
        return f"Scenario {self.name}"


def load(path: str) -> Scenario:
    """Read, validate and type one scenario file (names are checked against its lab by check_names())."""
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
    subject = f"Scenario {name}"
    schema.validate(doc, schema.schema(), "", None, None, subject)

    def error(message: str, value, key, at: str) -> SourceError:
        return SourceError(message, where(value, key, path), at, subject)

    spec = doc["spec"]
    lab = spec.get("lab", {})
    traffic = spec.get("traffic", {})
    rate = traffic.get("rate", 1000)
    files = []
    for index, rel in enumerate(lab.get("files", [])):
        full = os.path.normpath(os.path.join(os.path.dirname(path), rel))
        if not os.path.isfile(full):
            raise error(
                f"no such file {rel!r} (looked for {full})", lab["files"], index, f"spec.lab.files[{index}]"
            )
        files.append(full)
    # the lab takes this file's other documents too (and ignores the Scenario)
    documents = load_files(files) + docs
    directions = []
    for index, raw in enumerate(traffic.get("flows", [])):
        directions += flows.expand(raw, rate, f"spec.traffic.flows[{index}]", subject, path)
    typed = []
    for index, raw in enumerate(spec["steps"]):
        ((kind, args),) = raw.items()
        needs = steps.needs_flows(kind, args)
        if needs and not directions:
            raise error(
                f"{', '.join(needs)}: this expectation needs traffic: add spec.traffic.flows",
                spec["steps"],
                index,
                f"spec.steps[{index}].{kind}",
            )
        for expectation, value in args.items() if kind == "expect" else []:
            lo, hi = (value.get(k) if isinstance(value, dict) else None for k in ("min", "max"))
            if isinstance(lo, int) and isinstance(hi, int) and lo > hi:  # counts (durations are strings)
                raise error(
                    f"min {value['min']} > max {value['max']}",
                    value,
                    "min",
                    f"spec.steps[{index}].expect.{expectation}",
                )
        typed.append(steps.typed(index, kind, args, where(spec["steps"], index, path)))
    return Scenario(
        path=path,
        name=name,
        description=spec.get("description", ""),
        requires=requirements.typed(spec.get("requires"), where(spec, "requires", path)),
        expect_failure=spec.get("expectFailure"),
        deploy_fails=spec.get("deployFails"),
        files=(*files, path),
        documents=tuple(documents),
        backend=lab.get("backend", "veth"),
        rate=rate,
        flows=tuple(directions),
        steps=tuple(typed),
    )


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
    """Raise SourceError where the scenario names something the lab will not have (before anything is
    made): from the typed flows and steps, each name resolved through model.endpoints."""
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
    switches = [topology.CORE] + [sw.name for sw in prepared.topology.switches]
    cables = {
        f"{a}/{b}"
        for sw in prepared.topology.switches
        for up in sw.uplinks
        for a, b in ((sw.name, up), (up, sw.name))
    }
    pod_names = ", ".join(sorted(p for p in pods if "/" not in p))
    peer_names = ", ".join(sorted(peers)) or "none"

    def fail(end, message: str) -> None:
        raise SourceError(message, end.where, end.path, scen.subject)

    def check(end: endpoints.Endpoint) -> None:
        if end.may_be_peer and end.text in peers:
            return
        found = endpoints.locate(end, pods)
        if end.role == "peer":
            fail(end, f"unknown peer {end.text!r} (peers: {peer_names})")
        elif end.role == "pf" and end.text not in pfs:
            fail(end, f"unknown PF {end.text!r} (NODE/PF: {', '.join(sorted(pfs))})")
        elif end.role == "switch" and end.text not in switches:
            fail(end, f"unknown switch {end.text!r} (switches: {', '.join(switches)})")
        elif end.role == "switchLink" and end.text not in cables:
            fail(
                end,
                f"no cable {end.text!r} between two switches (cables: {', '.join(sorted(cables)) or 'none'})",
            )
        elif end.role == "pod" and found is None:
            fail(end, f"unknown pod {end.text!r} (pods: {pod_names})")
        elif end.role == "end" and found is None:
            fail(end, f"unknown endpoint {end.text!r} (pods: {pod_names}; peers: {peer_names})")
        elif end.role == "link":
            pod = end.readings[0][0] if end.readings else end.text
            if found is None:
                fail(end, f"unknown pod {pod!r} in {end.text!r} (pods: {pod_names})")
            ifaces, iface = found
            if iface not in ifaces:
                fail(end, f"pod {pod} has no link {iface!r} (links: {', '.join(sorted(ifaces))})")

    for flow in scen.flows:
        for end in (flow.src, flow.dst):
            check(end)
            why = flow.shape.family == "ipv6" and flows.missing_ipv6(end, prepared)
            if why:
                raise SourceError(f"family ipv6: {why}", flow.where, f"{flow.path}.family", scen.subject)
    names = {flow.name for flow in scen.flows}
    for step in scen.steps:
        for end in step.names:
            check(end)
        for ref in step.flows:
            if ref.name not in names:
                raise SourceError(
                    f"unknown flow {ref.name!r} (flows: {', '.join(sorted(names))})",
                    ref.where,
                    ref.path,
                    scen.subject,
                )
