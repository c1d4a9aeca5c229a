"""What judging an expectation ends in, as a type: a Verdict is a pass, a fail, or a measurement error (the
lab could not see what was asked: a starved probe sender or runner could hide it; re-measure, never pass).
Every rule returns one (traffic.rules for the probes' figures, run.deadline for polled kernel state); the
runner records it and retries on its kind (run.verdicts), pytest raises it (`error()`) and reads its kind
back from the exception, so no one tells the kinds apart by their words.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable


class Kind(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    MEASUREMENT_ERROR = "measurement error"


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    message: str  # what was seen (a pass), or why not (the text users read, unchanged since strings)

    @property
    def passed(self) -> bool:
        return self.kind is Kind.PASS

    def error(self) -> ExpectationFailed:
        """A verdict that did not pass as the exception pytest tests see (its type keeps the kind)."""
        if self.passed:
            raise ValueError(f"a passing verdict is no error: {self.message}")
        return ERRORS[self.kind](self.message)

    def settled(self) -> str:
        """What a pass saw; a fail or measurement error raised as its exception."""
        if not self.passed:
            raise self.error()
        return self.message

    def __str__(self) -> str:
        return self.message


def passed(message: str) -> Verdict:
    return Verdict(Kind.PASS, message)


def failed(message: str) -> Verdict:
    return Verdict(Kind.FAIL, message)


def unmeasured(message: str) -> Verdict:
    """A measurement error: `message` says what the lab could not see and why."""
    return Verdict(Kind.MEASUREMENT_ERROR, message)


def each(verdicts: Iterable[Verdict]) -> Verdict:
    """One verdict of several (one per flow, say), judged in order: the first that did not pass (the rest are
    not judged), else a pass saying what each saw ("; ")."""
    said = []
    for verdict in verdicts:
        if not verdict.passed:
            return verdict
        said.append(verdict.message)
    return passed("; ".join(said))


class ExpectationFailed(Exception):
    """A failed verdict raised: by pytest's lab.expect/traffic.expect, and by a handler that finds its
    expectation cannot hold while reading (a bond that does not hash, a flow with no bond)."""

    kind = Kind.FAIL

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.kind, str(self))


class MeasurementError(ExpectationFailed):
    """A measurement error raised: the probes or the runner could not see what the expectation asks."""

    kind = Kind.MEASUREMENT_ERROR


ERRORS = {Kind.FAIL: ExpectationFailed, Kind.MEASUREMENT_ERROR: MeasurementError}
