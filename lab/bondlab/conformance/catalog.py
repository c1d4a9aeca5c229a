"""Every conformance case: the case modules register theirs into the registry as they are imported."""

from __future__ import annotations

from bondlab.conformance import cases_bond, cases_lifecycle, cases_protocol  # noqa: F401
from bondlab.conformance.registry import CASES


def load() -> dict:
    """case id -> Case, in declaration order."""
    return CASES
