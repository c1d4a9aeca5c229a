"""A step's verdicts recorded, and the one retry policy built on their kinds.

An expectation's handler returns a Verdict (traffic.verdict: pass, fail, measurement error), or raises
ExpectationFailed, which carries one. A verdict that did not pass is recorded as a Failure, so whether a run
failed only for measurement errors is a question about kinds, asked by `bondlab run` (run.runner) and by
pytest (pytest.fixtures) through the same RETRY policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from bondlab.traffic.verdict import ExpectationFailed, Kind, Verdict


@dataclass(frozen=True)
class Failure:
    """One failed expectation: where its step is, its kind (outage, mii, ...), and its verdict."""

    where: str
    kind: str
    verdict: Verdict

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}: {self.verdict}"


@dataclass(frozen=True)
class Retry:
    """Run again, up to `attempts` in all, when every failure was a measurement error."""

    attempts: int = 3

    @staticmethod
    def wanted(failures: list) -> bool:
        """`failures`: one attempt's Failures (or a test's ExpectationFailed; a teardown's message has no
        verdict, so it is never re-measured)."""
        kinds = [getattr(getattr(f, "verdict", None), "kind", None) for f in failures]
        return bool(kinds) and all(kind is Kind.MEASUREMENT_ERROR for kind in kinds)


RETRY = Retry()


def as_error(failures: list) -> ExpectationFailed:
    """The failures of a step as one exception: a MeasurementError when every one was a measurement error."""
    kind = Kind.MEASUREMENT_ERROR if RETRY.wanted(failures) else Kind.FAIL
    return Verdict(kind, "\n".join(str(f) for f in failures)).error()


def record(sr, kind: str, evaluate: Callable[[], Verdict], failures: list) -> None:
    """Evaluate one expectation into its step's verdict and message; a failure also joins `failures`."""
    try:
        verdict = evaluate()
    except ExpectationFailed as error:
        verdict = error.verdict
    if verdict.passed:
        sr.ok = sr.ok is not False
    else:
        sr.ok = False
        failures.append(Failure(sr.where, kind, verdict))
    sr.message = (sr.message + "; " if sr.message else "") + f"{kind}: {verdict.message}"
