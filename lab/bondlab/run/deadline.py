"""The deadline rule of a polled expectation (`within`), apart from the kernel it reads: pure, clock injected.

The deadline is `within` after `base`: when the action before the check ended its link change (or, for an
action that lasts, when it ended), else when the check started. A read that starts after the deadline and
sees the old state is a failure; a change seen by a read that ended after the deadline, when the read before
it started before the deadline, happened while the runner was not looking (starved): a measurement error,
never a pass; so is a first read that ends after the deadline.
"""

from __future__ import annotations

import time
from typing import Callable

from bondlab.traffic.verdict import Verdict, failed, passed, unmeasured

DEFAULT_WITHIN = 3.0  # s


def polled(
    predicate: Callable[[], bool],
    what: str,
    describe: Callable[[], object],
    base: int,
    within: float,
    since: str,
    clock: Callable[[], int] = time.time_ns,
    sleep: Callable[[float], None] = time.sleep,
) -> Verdict:
    """Poll `predicate` until it holds or the deadline (`within` s after `base` ns, `since` names it) passes;
    a pass says how long after `base` it held."""
    deadline = base + int(within * 1e9)
    last_false = None
    while True:
        start = clock()
        ok = predicate()
        end = clock()
        if ok:
            if end > deadline and last_false is not None and last_false < deadline:
                return unmeasured(
                    f"measurement error: {what}: seen {(end - base) / 1e6:.0f} ms after {since}, "
                    f"not yet {(last_false - base) / 1e6:.0f} ms after it: the {within * 1000:g} ms "
                    "deadline fell between two reads"
                )
            if end > deadline and last_false is None:
                return unmeasured(
                    f"measurement error: {what}: first read only {(end - base) / 1e6:.0f} ms after "
                    f"{since} (the {within * 1000:g} ms deadline had passed)"
                )
            return passed(f"after {(end - base) / 1e6:.0f} ms")
        if start >= deadline:
            return failed(f"{what}: not within {within * 1000:g} ms of {since} (now {describe()})")
        last_false = start
        sleep(max(0.0, min(0.02, (deadline - clock()) / 1e9)))
