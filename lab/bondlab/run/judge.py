"""Expectations on traffic, judged after the probes stop over the window of the action they follow (one
handler per kind, registered in run.steps): outage, lost, duplicated, spread, carriedBy,
sticky, garp, unsolicitedNa, lacpdu.

Each handler reads the timeline's figures and returns the Verdict of the rule it calls (traffic.rules, where
every rule lives and is tested without a kernel: tests/unit/test_run_verdicts.py)."""

from __future__ import annotations

from typing import Optional

from bondlab.traffic import frames, rules
from bondlab.traffic.verdict import Verdict, each


# -- handlers: (timeline, args, index of the action whose window is judged) -> Verdict ---------------------
def _ms(value) -> Optional[float]:
    return value * 1000 if value is not None else None


def _per_flow(tl, args: dict, action: int, rule) -> Verdict:
    """`rule` (flow name, its Window) -> Verdict over each flow judged: the one named, else every flow."""
    return each(rule(f.name, tl.window_of(f, action)) for f in tl.flows_named(args.get("flow")))


def outage_of(tl, args: dict, action: int) -> Verdict:
    lo, hi = _ms(args.get("min")), _ms(args.get("max"))
    return _per_flow(tl, args, action, lambda flow, w: rules.outage(flow, w, lo, hi))


def lost(tl, args: dict, action: int) -> Verdict:
    return _per_flow(tl, args, action, lambda flow, w: rules.lost(flow, w, args.get("min"), args.get("max")))


def duplicated(tl, args: dict, action: int) -> Verdict:
    lo, hi = args.get("min"), args.get("max")
    return _per_flow(
        tl, args, action, lambda flow, w: rules.bounded(flow, "duplicated", w.duplicated, lo, hi)
    )


def _shares(tl, args: dict, action: int, links: list, share: float) -> Verdict:
    """The slaves' shares at the end of each flow the links are on: a probe of a pod-to-pod flow left by a
    slave of the sender and arrived on one of the receiver, and a link names its end."""
    verdicts = []
    for flow in tl.flows_named(args.get("flow")):
        # probes sent before the action's first link change went the old way: not the action's doing
        w = tl.window_of(flow, action, since=tl.changed_at(action))
        # per_slave is the sending pod's end (the receiving pod's when a peer sends); per_slave_in the
        # receiving pod's when both ends are pods
        both = bool(flow.src_pod and flow.dst_pod)
        at_receiver = both and all(link.split("/")[-2] == flow.dst_pod for link in links)
        verdicts.append(rules.shares(flow.name, w.per_slave_in if at_receiver else w.per_slave, links, share))
    return each(verdicts)


def spread(tl, args: dict, action: int) -> Verdict:
    return _shares(tl, args, action, args["links"], args.get("minShare", 0.1))


def carried_by(tl, args: dict, action: int) -> Verdict:
    return _shares(tl, args, action, [args["link"]], args.get("minShare", 0.9))


def sticky(tl, args: dict, action: int) -> Verdict:
    return _per_flow(tl, args, action, rules.sticky_sessions)


def least(args: dict) -> int:
    """A count's `min`: as given, else 1 - or 0 when `max` is 0 (`max: 0` alone means "none")."""
    return args.get("min", min(1, args.get("max", 1)))


def _notices(what: str):
    def judge(tl, args: dict, action: int) -> Verdict:
        start = tl.changed_at(action)  # from when the cut was sent, not from looking its ports up
        within = args.get("within", 1.0)
        events = tl.traffic.tap_events()
        end = start + int(within * 1e9)
        stamps = frames.notices(events, f"peer {args['peer']}", start, what, end, incoming=True)
        return rules.notices_seen(args["peer"], what, stamps, start, within, least(args), args.get("max"))

    return judge


garp = _notices("garp")
unsolicited_na = _notices("na")


def lacpdu(tl, args: dict, action: int) -> Verdict:
    start, end = tl.window_bounds(action)
    seen = frames.lacpdus(tl.traffic.tap_events(), args["link"], start, end)
    return rules.lacpdus_seen(args["link"], seen, least(args), args.get("max"), args.get("state", {}))
