"""The scenario actions as verbs on a deployed lab (`bondlab cut --vf test-pod/net1`, `bondlab flap ...`), and
`bondlab watch POD`.

Nothing here declares an action: each verb is a step kind of the registry (run.steps) whose argument is an
object in scenarios/schema.json, named in kebab case (linkState -> link-state); its options are that
object's properties. A required property is a positional argument unless its name says which kind of
cable it names (the `target` properties: vf, pf, uplink, port, active), and a one-of object (`target`) is
a required choice of options. The words given become the step's mapping, which the scenario loader checks
against the schema and types (durations to seconds), and the registry's handler runs it on a Timeline of
the deployed lab: the same code as a scenario step.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass
from typing import Optional

from bondlab.model.steps import ACTIONS

SETTLE = 3.0  # s: how long an action that changed a link waits for the bond to act on it


@dataclass(frozen=True)
class Option:
    """One property of a step's argument as a command-line argument."""

    prop: str
    positional: bool
    required: bool
    kind: str  # flag, int, float, duration, choice, text, texts (repeatable: a schema "one or many")
    choices: tuple = ()
    metavar: str = ""
    help: str = ""
    group: bool = False  # one of a required, mutually exclusive group (the target)

    @property
    def dest(self) -> str:
        return f"step_{self.prop}"


def verb_name(kind: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "-" + m.group().lower(), kind)


def _defs() -> dict:
    from bondlab.model import schema

    return schema.schema()["$defs"]


def _resolve(node: dict, defs: dict) -> tuple:
    """(the node with its $refs followed, the name of the last definition it referred to)."""
    name = ""
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        node = {**defs[name], **{k: v for k, v in node.items() if k != "$ref"}}
    return node, name


METAVARS = {"podLink": "POD/IFACE", "podLinks": "POD/IFACE", "nodePf": "NODE/PF", "duration": "DURATION"}


def options(kind: str) -> Optional[list]:
    """The command-line arguments of action `kind`, from its schema; None when its argument is not an
    object (`wait`: a pause, nothing to do on a lab by hand)."""
    defs = _defs()
    node, _ = _resolve(defs["step"]["properties"][kind], defs)
    if node.get("type") != "object":
        return None
    one_of = node.get("maxProperties") == 1 and not node.get("required")
    cable_kinds = set(defs["target"]["properties"])
    required = set(node.get("required", ()))
    out = []
    for prop, raw in node["properties"].items():
        sub, ref = _resolve(raw, defs)
        if "enum" in sub:
            value, choices = "choice", tuple(sub["enum"])
        elif ref == "duration":
            value, choices = "duration", ()
        elif any(alt.get("type") == "array" for alt in sub.get("anyOf", ())):
            value, choices = "texts", ()
        else:
            value = {"boolean": "flag", "integer": "int", "number": "float"}.get(sub.get("type"), "text")
            choices = ()
        metavar = METAVARS.get(ref) or ("POD" if prop in ("pod", "active") else prop.upper())
        out.append(
            Option(
                prop,
                positional=prop in required and prop not in cable_kinds,
                required=prop in required,
                kind=value,
                choices=choices,
                metavar=metavar,
                help=sub.get("description", ""),
                group=one_of,
            )
        )
    return out


def verbs() -> dict:
    """verb name -> (step kind, its options), for every action whose argument is an object."""
    found = {}
    for kind in ACTIONS:
        opts = options(kind)
        if opts is not None:
            found[verb_name(kind)] = (kind, opts)
    return found


def _add(parser, group, opt: Option) -> None:
    extra: dict = {"help": opt.help or None}
    if opt.kind == "flag":
        extra["action"] = "store_true"
    else:
        extra["metavar"] = "|".join(opt.choices) if opt.choices else opt.metavar
        extra["type"] = {"int": int, "float": float}.get(opt.kind, str)
        if opt.kind == "texts":  # `--links A --links B` (nargs would swallow the positional after it)
            extra["action"] = "append"
            extra["help"] = f"{opt.help}; again for more" if opt.help else "again for more"
        if opt.choices:
            extra["choices"] = opt.choices
    if opt.positional:
        parser.add_argument(opt.dest, **extra)
    elif opt.group:
        group.add_argument(f"--{verb_name(opt.prop)}", dest=opt.dest, **extra)
    else:
        parser.add_argument(f"--{verb_name(opt.prop)}", dest=opt.dest, required=opt.required, **extra)


def step_mapping(kind: str, opts: list, args: argparse.Namespace) -> dict:
    """The words given as the scenario step they stand for: {kind: {prop: value}} (durations as written;
    a bare number is milliseconds, as in a scenario)."""
    raw = {}
    for opt in opts:
        value = getattr(args, opt.dest, None)
        if value is None or value is False:
            continue
        if opt.kind == "duration" and value.isdigit():
            value = int(value)
        raw[opt.prop] = value
    return {kind: raw}


def _pods_named(tl, args: dict) -> list:
    """The bonded pods an action names (its vf, link, pod or active), else every bonded pod of the lab."""
    for key in ("vf", "link"):
        if key in args:
            return [tl.names.split(args[key])[0]]
    for key in ("pod", "active"):
        if key in args:
            return [tl.names.pod(args[key])]
    return [pod for pod in tl.state.pods if pod.bond]


def act(kind: str, mapping: dict, name: Optional[str], settle: float = SETTLE, out=sys.stdout) -> int:
    """Play one step on the deployed lab `name` and print what it did and the bonds' state after it."""
    from bondlab.model import steps
    from bondlab.run import bondstate
    from bondlab.run.steps import STEPS
    from bondlab.run.timeline import Timeline
    from bondlab.world.labstate import LabState

    state = LabState.load(name)
    step = steps.step(0, mapping, "the command line", f"bondlab {verb_name(kind)}")
    tl = Timeline(state)
    tl.last_cut = list(state.last_cut)  # `restore --active POD` after `cut --active POD`
    try:
        pods = [pod for pod in _pods_named(tl, step.args) if pod.bond]
        before = {pod.key: bondstate.read(pod) for pod in pods}
        began = time.monotonic()
        changed = STEPS[kind].handler(tl, step.args)
        took = time.monotonic() - began
        if tl.last_cut != state.last_cut:
            state.last_cut = tl.last_cut
            state.save()
        pods = [state.pod(pod.key) for pod in pods]  # restart-pod writes the pod's new record
        print(f"{step.describe()}: done in {took * 1000:.0f} ms", file=out, flush=True)
        # A link change reaches the bond at its next MII poll (or after updelay/downdelay): wait for it.
        after = bondstate.settle(pods, before, settle if changed else 0.5)
        for pod in pods:
            was, now = before[pod.key], after[pod.key]
            said = ", ".join(now.changes(was)) or "no change"
            print(f"  {now.line()}\n    ({said})", file=out, flush=True)
    finally:
        tl.close()
    return 0


def watch(
    pod_name: str, name: Optional[str], duration: float, count: int, interval: float, out=sys.stdout
) -> int:
    """Print the pod's bond state, then one timestamped line per change, until Ctrl-C, `duration` seconds
    or `count` changes."""
    from bondlab.run import bondstate
    from bondlab.run.names import Names
    from bondlab.run.reader import READER
    from bondlab.world.labstate import LabError, LabState

    state = LabState.load(name)
    pod = Names(state).pod(pod_name)
    if not pod.bond:
        raise LabError(f"pod {pod.key} has no bond to watch")
    began = time.monotonic()
    try:
        now = bondstate.read(pod)
        print(f"{bondstate.stamp(time.time_ns())} {now.line()}", file=out, flush=True)
        seen = 0
        while (not duration or time.monotonic() - began < duration) and (not count or seen < count):
            time.sleep(interval)
            later = bondstate.read(pod)
            for change in later.changes(now):
                print(f"{bondstate.stamp(time.time_ns())} {pod.key}: {change}", file=out, flush=True)
                seen += 1
            now = later
    finally:
        READER.close()
    return 0


def _run_action(kind: str, opts: list):
    def run(args: argparse.Namespace) -> int:
        from bondlab.cli.lab import lab_errors

        with lab_errors() as failed:
            return act(kind, step_mapping(kind, opts, args), args.name, args.settle)
        return failed.code

    return run


def _run_watch(args: argparse.Namespace) -> int:
    from bondlab.cli.lab import lab_errors

    with lab_errors() as failed:
        return watch(args.pod, args.name, args.duration, args.count, args.interval)
    return failed.code


def add_verbs(sub, common) -> None:
    from bondlab.cli.lab import wrap

    for verb, (kind, opts) in verbs().items():
        p = sub.add_parser(
            verb,
            parents=[common],
            help=f"scenario action `{kind}` on the deployed lab; prints the bonds' state after it",
        )
        group = p.add_mutually_exclusive_group(required=True) if any(o.group for o in opts) else None
        for opt in opts:
            _add(p, group, opt)
        p.add_argument(
            "--settle",
            type=float,
            default=SETTLE,
            help=f"seconds to wait for the bond to act on a link change (default {SETTLE:g})",
        )
        p.set_defaults(func=wrap(_run_action(kind, opts)))
    w = sub.add_parser(
        "watch", parents=[common], help="stream a pod's bond events (active slave, MII, carrier) until Ctrl-C"
    )
    w.add_argument("pod", metavar="POD")
    w.add_argument("--duration", type=float, default=0, help="stop after this many seconds")
    w.add_argument("--count", type=int, default=0, help="stop after this many events (one line each)")
    w.add_argument("--interval", type=float, default=0.02, help="poll interval (s), default 0.02")
    w.set_defaults(func=wrap(_run_watch))
