"""The verdict rules on the probes' figures, each in one place: figures in, a Verdict out (traffic.verdict:
pass, fail, or measurement error when the lab itself could hide what is asked). run.judge and run.hashed
read the figures off a run and call these; pytest reads the same verdicts through them.

Measurement errors: a sender stall hides at most its own length, so the true outage is <= max(outage,
stall) and >= the longest stretch of its gap sent without a pause; frames the lab itself lost (its kernel's
input backlog, the sender's own full socket buffer) are not the network's loss. Where these leave a bound
open the verdict is a measurement error, never a pass.
"""

from __future__ import annotations

from typing import Optional

from bondlab.traffic.verdict import Verdict, failed, passed, unmeasured
from bondlab.traffic.window import OVERRUN, Window, sessions_per_slave, stalled
from bondlab.traffic.xmit_hash import BondView


def bounded(
    flow: str, kind: str, value: float, lo: Optional[float], hi: Optional[float], unit: str = ""
) -> Verdict:
    if hi is not None and value > hi:
        return failed(f"{flow}: {kind} {value:g}{unit} > {hi:g}{unit}")
    if lo is not None and value < lo:
        return failed(f"{flow}: {kind} {value:g}{unit} < {lo:g}{unit}")
    return passed(f"{flow} {value:g}{unit}")


# -- what the lab itself lost -------------------------------------------------------------------------
def backlog_words(w: Window) -> str:
    return (
        f"the lab's kernel dropped {w.backlog_drops} frame(s) at its input backlog in this window "
        "(netdev_max_backlog: the lab starved its own softirq)"
    )


def overrun_words(w: Window) -> str:
    said = ", ".join(f"{name} {n}" for name, n in sorted(w.unsent.items()) if name in OVERRUN)
    return f"{said}: its own socket buffer was full, the lab starved the path that drains it"


def _outage_doubt(w: Window, high_ms: Optional[float]) -> str:
    """Why the outage figure cannot support the bound `high_ms` ("" when it can)."""
    if high_ms is None:
        return ""
    if w.outage_ms <= high_ms < w.stall_ms:
        return (
            f"the probe sender stalled {w.stall_ms:g} ms in this window, longer than the {high_ms:g} ms "
            f"bound: an outage could hide in it (measured {w.outage_ms:g} ms, lost {w.lost})"
        )
    if w.outage_ms <= high_ms:
        return ""
    above = f"outage {w.outage_ms:g} ms > {high_ms:g} ms, but"
    if w.outage_floor_ms <= high_ms and stalled(w.gap_stall_ms):
        return (
            f"{above} the sender paused inside that gap (longest {w.gap_stall_ms:g} ms); the longest "
            f"stretch of it sent without a pause is {w.outage_floor_ms:g} ms"
        )
    if w.backlog_drops:
        return f"{above} {backlog_words(w)}"
    if w.unsent_in_gap:
        return (
            f"{above} {w.unsent_in_gap} probe(s) inside that gap never left the sender ({overrun_words(w)})"
        )
    return ""


def outage(flow: str, w: Window, lo_ms: Optional[float], hi_ms: Optional[float]) -> Verdict:
    """The outage within [lo_ms, hi_ms]; a bound a sender stall or the lab's own loss leaves open is a
    measurement error."""
    doubt = _outage_doubt(w, hi_ms)
    if doubt:
        return unmeasured(f"{flow}: measurement error: {doubt}")
    return bounded(flow, "outage", w.outage_ms, lo_ms, hi_ms, " ms")


def _lost_doubt(w: Window, high: Optional[int]) -> str:
    """Why a loss over `high` may be only frames the lab itself lost ("" when it is the network's)."""
    if high is None or w.lost <= high:
        return ""
    if w.backlog_drops:
        return f"lost {w.lost} > {high}, but {backlog_words(w)}"
    if high >= w.lost - w.overrun:
        return f"lost {w.lost} > {high}, but {w.overrun} never left the sender ({overrun_words(w)})"
    return ""


def lost(flow: str, w: Window, lo: Optional[int], hi: Optional[int]) -> Verdict:
    """Probes lost within [lo, hi]; frames the lab itself lost are not the network's loss (a measurement
    error when they alone take it over `hi`)."""
    doubt = _lost_doubt(w, hi)
    if doubt:
        return unmeasured(f"{flow}: measurement error: {doubt}")
    return bounded(flow, "lost", w.lost, lo, hi)


# -- where the probes went ----------------------------------------------------------------------------
def shares(flow: str, per_slave: dict, links: list, share: float) -> Verdict:
    total = sum(per_slave.values()) or 1
    for link in links:
        got = per_slave.get(link, 0) / total
        if got < share:
            return failed(
                f"{flow}: {link} carried {got:.0%} of the probes (< {share:.0%}); per slave: {per_slave}"
            )
    return passed(f"{flow} " + " ".join(f"{k}={v}" for k, v in sorted(per_slave.items())))


def one_session_only(flow: str, w: Window) -> Optional[Verdict]:
    """A fail when the window has no per-session carriers to judge (a flow of one session), else None."""
    if w.per_session:
        return None
    return failed(f"{flow}: one session only (add `sessions: N` to the flow)")


def sticky_sessions(flow: str, w: Window) -> Verdict:
    """Every session carried by one slave in the window (no slave changed under it)."""
    refused = one_session_only(flow, w)
    if refused:
        return refused
    moved = {i: labels for i, labels in enumerate(w.per_session) if len(labels) > 1}
    shown = ", ".join(f"{k} {v}" for k, v in sorted(sessions_per_slave(w.per_session).items()))
    if moved:
        which = "; ".join(f"session {i} on {' and '.join(labels)}" for i, labels in sorted(moved.items())[:6])
        return failed(f"{flow}: {len(moved)} of {len(w.per_session)} sessions moved: {which}")
    return passed(f"{flow} {len(w.per_session)} sessions, each on one slave: {shown}")


def sessions_hashed(
    flow: str, policy: str, view: BondView, predicted: list, carried: list, ports: list, stall_ms: float = 0
) -> Verdict:
    """`predicted`: per session the slave's label under `policy`; `carried`: the labels that carried it in
    the window (Window.per_session); `ports`: the sessions' source ports; `stall_ms`: the sender's longest
    pause in the window (sessions it left without a probe are a measurement error, not a miss)."""
    wrong = [i for i, (want, got) in enumerate(zip(predicted, carried)) if got != [want]]
    usable = ", ".join(view.usable) or "none"
    if wrong and stalled(stall_ms) and all(not carried[i] for i in wrong):
        return unmeasured(
            f"{flow}: {len(wrong)} of {len(predicted)} sessions carried no probe: the probe sender stalled "
            f"{stall_ms:g} ms in the window"
        )
    if wrong:
        own = "" if policy == view.policy else f"; the bond's own policy: {view.policy}"
        shown = "; ".join(
            f"session {i} (port {ports[i]}) {predicted[i]}, carried by {' and '.join(carried[i]) or 'none'}"
            for i in wrong[:6]
        )
        more = f" (+{len(wrong) - 6} more)" if len(wrong) > 6 else ""
        return failed(
            f"{flow}: {len(wrong)} of {len(predicted)} sessions not on the slave {policy} picks "
            f"(usable: {usable}{own}): {shown}{more}"
        )
    counts: dict = {}
    for label in predicted:
        counts[label] = counts.get(label, 0) + 1
    shown = ", ".join(f"{label} {n}" for label, n in sorted(counts.items()))
    return passed(f"{flow} {len(predicted)} sessions each on the slave {policy} picks: {shown}")


# -- what the taps heard ------------------------------------------------------------------------------
NOTICES = {"garp": "gratuitous ARP(s)", "na": "unsolicited NA(s)"}


def _want(lo: int, hi: Optional[int]) -> str:
    return f"{lo}" if lo == hi else f"{lo}..{hi if hi is not None else ''}"


def notices_seen(
    peer: str, what: str, stamps: list, start: int, within: float, lo: int, hi: Optional[int]
) -> Verdict:
    """`stamps`: the kernel timestamps of the notifications the peer heard within `within` s of `start`."""
    times = ", ".join(f"+{(t - start) / 1e6:.0f}" for t in stamps[:12]) + (" ..." if len(stamps) > 12 else "")
    said = f"{len(stamps)} {NOTICES[what]} within {within * 1000:g} ms" + (
        f", at {times} ms" if stamps else ""
    )
    if len(stamps) < lo or (hi is not None and len(stamps) > hi):
        return failed(f"peer {peer} heard {said} (want {_want(lo, hi)})")
    return passed(said)


def lacpdus_seen(link: str, seen: list, lo: int, hi: Optional[int], state: dict) -> Verdict:
    """`seen`: frames.lacpdus of the link's switch port in the window; `state`: {actor|partner: {bit: bool}}
    that the last LACPDU from the bond must carry (its settled state)."""
    sent = [p for p in seen if not p["outgoing"]]
    if len(sent) < lo or (hi is not None and len(sent) > hi):
        return failed(
            f"{link}: {len(sent)} LACPDU(s) from the bond at the switch port (want {_want(lo, hi)})"
        )
    said = f"{len(sent)} LACPDUs from the bond, {len(seen) - len(sent)} to it"
    if not state:
        return passed(said)
    if not sent:
        return failed(f"{link}: no LACPDU from the bond to read the state of")
    last = sent[-1]
    wrong = [
        f"{side} {bit} {'clear' if want else 'set'}"
        for side, bits in state.items()
        for bit, want in bits.items()
        if (bit in last[side]) != want
    ]
    shown = "; ".join(f"{side} {{{', '.join(sorted(last[side])) or '-'}}}" for side in ("actor", "partner"))
    if wrong:
        return failed(f"{link}: the last LACPDU from the bond has {', '.join(wrong)} ({shown})")
    return passed(f"{said}; last: {shown}")
