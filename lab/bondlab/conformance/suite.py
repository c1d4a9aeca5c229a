"""Run cases against plugins: each case in a sandbox of its own, undone after it whatever happened."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from bondlab.conformance.context import Context, Subject
from bondlab.conformance.registry import Fail, NotSupported
from bondlab.conformance.sandbox import Sandbox
from bondlab.util.undo import Undo


@dataclass
class CaseResult:
    plugin: str
    kind: str
    case: str
    level: str
    source: str
    status: str  # registry.LABELS: passed, failed, skipped (not supported), error
    message: str = ""
    seconds: float = 0.0

    @property
    def path(self) -> str:  # the test's name in JUnit
        return f"{self.plugin}::{self.case}"

    @property
    def judged(self) -> bool:
        """A spec or bond-cni case: the exit status depends on it."""
        return self.level != "extension"

    def as_dict(self) -> dict:
        return asdict(self)


def applies(case, subject: Subject) -> bool:
    return subject.kind == "bond" or case.generic


def run_case(subject: Subject, case) -> CaseResult:
    started = time.monotonic()
    status, message = "passed", ""
    try:
        with Undo() as undo:
            case.run(Context(subject, Sandbox(undo)))
    except Fail as reason:
        status, message = "failed", str(reason)
    except NotSupported as reason:
        status, message = "skipped", str(reason)
    except Exception as error:  # the suite could not run the case (its sandbox, a command): not the plugin's
        status, message = "error", f"{type(error).__name__}: {error}"
    return CaseResult(
        subject.path,
        subject.kind,
        case.id,
        case.level,
        case.source,
        status,
        message,
        time.monotonic() - started,
    )


def run(subjects: list, cases: list, progress=None) -> list:
    """Every case that applies to each subject, in order; SIGTERM unwinds the case's sandbox like Ctrl-C."""
    from bondlab.vm.engine import restore_signal, terminate_as_exception

    previous = terminate_as_exception()
    results = []
    try:
        for subject in subjects:
            for case in cases:
                if not applies(case, subject):
                    continue
                result = run_case(subject, case)
                results.append(result)
                if progress:
                    progress(result)
    finally:
        restore_signal(previous)
    return results
