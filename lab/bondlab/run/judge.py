"""Expectations on traffic, judged after the probes stop over the window of the action they follow (one
handler per kind, registered in run.steps): outage, lost, duplicated, spread, carriedBy,
sticky, garp, unsolicitedNa, lacpdu.

Each handler reads the timeline's figures; the verdict itself is a pure function of them (tested without a
kernel in tests/unit/test_run_verdicts.py)."""

from __future__ import annotations

from typing import Optional

from bondlab.run import frames, traffic
from bondlab.run.verdicts import ExpectationFailed, MeasurementError


# -- verdicts: figures in, a message or an exception out -------------------------------------------------
def bounded(
    flow: str, kind: str, value: float, lo: Optional[float], hi: Optional[float], unit: str = ""
) -> str:
    if hi is not None and value > hi:
        raise ExpectationFailed(f"{flow}: {kind} {value:g}{unit} > {hi:g}{unit}")
    if lo is not None and value < lo:
        raise ExpectationFailed(f"{flow}: {kind} {value:g}{unit} < {lo:g}{unit}")
    return f"{flow} {value:g}{unit}"


def outage(flow: str, w: traffic.Window, lo_ms: Optional[float], hi_ms: Optional[float]) -> str:
    """A bound a sender stall leaves open is a measurement error (traffic.outage_verdict), never a pass."""
    said = traffic.outage_verdict(w, lo_ms, hi_ms)
    if said.startswith("measurement error"):
        raise MeasurementError(f"{flow}: {said}")
    return bounded(flow, "outage", w.outage_ms, lo_ms, hi_ms, " ms")


def shares(flow: str, per_slave: dict, links: list, share: float) -> str:
    total = sum(per_slave.values()) or 1
    for link in links:
        got = per_slave.get(link, 0) / total
        if got < share:
            raise ExpectationFailed(
                f"{flow}: {link} carried {got:.0%} of the probes (< {share:.0%}); per slave: {per_slave}"
            )
    return f"{flow} " + " ".join(f"{k}={v}" for k, v in sorted(per_slave.items()))


NOTICES = {"garp": "gratuitous ARP(s)", "na": "unsolicited NA(s)"}


def notices_seen(
    peer: str, what: str, stamps: list, start: int, within: float, lo: int, hi: Optional[int]
) -> str:
    """`stamps`: the kernel timestamps of the notifications the peer heard within `within` s of `start`."""
    times = ", ".join(f"+{(t - start) / 1e6:.0f}" for t in stamps[:12]) + (" ..." if len(stamps) > 12 else "")
    said = f"{len(stamps)} {NOTICES[what]} within {within * 1000:g} ms" + (
        f", at {times} ms" if stamps else ""
    )
    want = f"{lo}" if lo == hi else f"{lo}..{hi if hi is not None else ''}"
    if len(stamps) < lo or (hi is not None and len(stamps) > hi):
        raise ExpectationFailed(f"peer {peer} heard {said} (want {want})")
    return said


def lacpdus_seen(link: str, seen: list, lo: int, hi: Optional[int], state: dict) -> str:
    """`seen`: frames.lacpdus of the link's switch port in the window; `state`: {actor|partner: {bit: bool}}
    that the last LACPDU from the bond must carry (its settled state)."""
    sent = [p for p in seen if not p["outgoing"]]
    if len(sent) < lo or (hi is not None and len(sent) > hi):
        want = f"{lo}" if lo == hi else f"{lo}..{hi if hi is not None else ''}"
        raise ExpectationFailed(
            f"{link}: {len(sent)} LACPDU(s) from the bond at the switch port (want {want})"
        )
    said = f"{len(sent)} LACPDUs from the bond, {len(seen) - len(sent)} to it"
    if not state:
        return said
    if not sent:
        raise ExpectationFailed(f"{link}: no LACPDU from the bond to read the state of")
    last = sent[-1]
    wrong = [
        f"{side} {bit} {'clear' if want else 'set'}"
        for side, bits in state.items()
        for bit, want in bits.items()
        if (bit in last[side]) != want
    ]
    shown = "; ".join(f"{side} {{{', '.join(sorted(last[side])) or '-'}}}" for side in ("actor", "partner"))
    if wrong:
        raise ExpectationFailed(f"{link}: the last LACPDU from the bond has {', '.join(wrong)} ({shown})")
    return f"{said}; last: {shown}"


def sessions_of(flow: str, w: traffic.Window) -> list:
    """The window's per-session carriers; a flow of one session has none to judge."""
    if not w.per_session:
        raise ExpectationFailed(f"{flow}: one session only (add `sessions: N` to the flow)")
    return w.per_session


def sticky_sessions(flow: str, w: traffic.Window) -> str:
    """Every session carried by one slave in the window (no slave changed under it)."""
    sessions_of(flow, w)
    moved = {i: labels for i, labels in enumerate(w.per_session) if len(labels) > 1}
    shown = ", ".join(f"{k} {v}" for k, v in sorted(traffic.sessions_per_slave(w.per_session).items()))
    if moved:
        which = "; ".join(f"session {i} on {' and '.join(labels)}" for i, labels in sorted(moved.items())[:6])
        raise ExpectationFailed(f"{flow}: {len(moved)} of {len(w.per_session)} sessions moved: {which}")
    return f"{flow} {len(w.per_session)} sessions, each on one slave: {shown}"


# -- handlers: (timeline, args, index of the action whose window is judged) -------------------------------
def _ms(value) -> Optional[float]:
    return value * 1000 if value is not None else None


def outage_of(tl, args: dict, action: int) -> str:
    lo, hi = _ms(args.get("min")), _ms(args.get("max"))
    return "; ".join(
        outage(f.name, tl.window_of(f, action), lo, hi) for f in tl.flows_named(args.get("flow"))
    )


def _count(kind: str, figure=None):
    figure = figure or (lambda flow, w, lo, hi: bounded(flow, kind, getattr(w, kind), lo, hi))

    def judge(tl, args: dict, action: int) -> str:
        return "; ".join(
            figure(f.name, tl.window_of(f, action), args.get("min"), args.get("max"))
            for f in tl.flows_named(args.get("flow"))
        )

    return judge


def lost_probes(flow: str, w: traffic.Window, lo: Optional[int], hi: Optional[int]) -> str:
    """Frames the lab itself lost are not the network's loss (traffic.lost_verdict), never a pass."""
    said = traffic.lost_verdict(w, hi)
    if said:
        raise MeasurementError(f"{flow}: {said}")
    return bounded(flow, "lost", w.lost, lo, hi)


lost = _count("lost", lost_probes)
duplicated = _count("duplicated")


def spread(tl, args: dict, action: int) -> str:
    share = args.get("minShare", 0.1)
    return "; ".join(
        shares(f.name, tl.window_of(f, action).per_slave, args["links"], share)
        for f in tl.flows_named(args.get("flow"))
    )


def carried_by(tl, args: dict, action: int) -> str:
    share = args.get("minShare", 0.9)
    return "; ".join(
        shares(f.name, tl.window_of(f, action).per_slave, [args["link"]], share)
        for f in tl.flows_named(args.get("flow"))
    )


def sticky(tl, args: dict, action: int) -> str:
    return "; ".join(
        sticky_sessions(f.name, tl.window_of(f, action)) for f in tl.flows_named(args.get("flow"))
    )


def least(args: dict) -> int:
    """A count's `min`: as given, else 1 - or 0 when `max` is 0 (`max: 0` alone means "none")."""
    return args.get("min", min(1, args.get("max", 1)))


def _notices(what: str):
    def judge(tl, args: dict, action: int) -> str:
        # from when the cut was sent when there is one (not from the action's start, which includes looking
        # the ports up)
        start = (tl.actions[action].done_at or tl.actions[action].t) if action >= 0 else tl.traffic.started
        within = args.get("within", 1.0)
        events = tl.traffic.tap_events()
        end = start + int(within * 1e9)
        stamps = frames.notices(events, f"peer {args['peer']}", start, what, end, incoming=True)
        return notices_seen(args["peer"], what, stamps, start, within, least(args), args.get("max"))

    return judge


garp = _notices("garp")
unsolicited_na = _notices("na")


def lacpdu(tl, args: dict, action: int) -> str:
    start, end = tl.window_bounds(action)
    seen = frames.lacpdus(tl.traffic.tap_events(), args["link"], start, end)
    return lacpdus_seen(args["link"], seen, least(args), args.get("max"), args.get("state", {}))
