"""What an expectation can end in, as types, and the one retry policy built on them.

An expectation passes (it returns what it saw), fails (ExpectationFailed) or cannot be measured
(MeasurementError: a starved probe sender or runner could hide what it asks; never a pass). A failure is
recorded with its exception, so whether a run failed only for measurement errors is a question about types,
asked by `bondlab run` (run.runner) and by pytest (pytest.fixtures) through the same RETRY policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


class ExpectationFailed(Exception):
    pass


class MeasurementError(ExpectationFailed):
    """The probes could not see what the expectation asks (a starved sender): re-measure, never pass."""


@dataclass(frozen=True)
class Failure:
    """One failed expectation: where its step is, its kind, and the exception that said why."""

    where: str
    kind: str
    error: ExpectationFailed

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}: {self.error}"


@dataclass(frozen=True)
class Retry:
    """Run again, up to `attempts` in all, when every failure was a measurement error."""

    attempts: int = 3

    @staticmethod
    def wanted(errors: list) -> bool:
        """`errors`: the exceptions (or Failures) of one attempt."""
        found = [getattr(e, "error", e) for e in errors]
        return bool(found) and all(isinstance(e, MeasurementError) for e in found)


RETRY = Retry()


def as_error(failures: list) -> ExpectationFailed:
    """The failures of a step as one exception: a MeasurementError when every one was a measurement error."""
    kind = MeasurementError if RETRY.wanted(failures) else ExpectationFailed
    return kind("\n".join(str(f) for f in failures))


def verdict(sr, kind: str, evaluate: Callable, failures: list) -> None:
    """Evaluate one expectation into its step's verdict and message; a failure also joins `failures`."""
    try:
        said = evaluate()
        sr.ok = sr.ok is not False
    except ExpectationFailed as error:
        sr.ok, said = False, str(error)
        failures.append(Failure(sr.where, kind, error))
    sr.message = (sr.message + "; " if sr.message else "") + f"{kind}: {said}"
