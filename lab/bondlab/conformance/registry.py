"""Conformance cases, each declared once: id, level, the text it holds the plugin to, and the function.

Levels: `spec` (a MUST/SHOULD of the CNI spec, quoted with its section), `bond-cni` (a field or behaviour
upstream bond-cni's README documents), `extension` (this project's fields: a plugin that rejects or ignores
them is reported "not supported", not failed). A case function takes a `Context` (the plugin, its sandbox)
and returns nothing when the plugin passes; it raises `Fail` or `NotSupported` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from bondlab.util import keywords

LEVELS = ("spec", "bond-cni", "extension")
# An outcome: passed, failed (with a reason), skipped (an extension the plugin does not support), error
# (the suite itself could not run the case). JUnit's words, so the report writer serves scenarios too.
LABELS = {"passed": "PASS", "failed": "FAIL", "skipped": "NOT-SUPPORTED", "error": "ERROR"}


class Fail(Exception):
    """The plugin broke the rule the case holds it to."""


class NotSupported(Exception):
    """An extension case whose field the plugin rejects or ignores."""


def expect(condition, reason: str) -> None:
    if not condition:
        raise Fail(reason)


@dataclass(frozen=True)
class Case:
    id: str
    level: str
    source: str
    run: Callable
    generic: bool = False  # not bond-specific: also runs against other interface plugins (macvlan, ...)


CASES: dict = {}


def case(id: str, level: str, source: str, generic: bool = False, **bound) -> Callable:
    """Register the decorated function as case `id`; `bound` keyword arguments are passed to it, so one
    function serves a family of cases (one per cniVersion, one per field)."""
    assert level in LEVELS, level

    def register(function: Callable) -> Callable:
        assert id not in CASES, f"case {id} declared twice"
        run = (lambda ctx: function(ctx, **bound)) if bound else function
        CASES[id] = Case(id, level, " ".join(source.split()), run, generic)
        return function

    return register


def select(cases, expression: str = "") -> list:
    """The cases whose id matches a -k expression (util.keywords; its ExpressionError is a ValueError)."""
    if not expression.strip():
        return list(cases)
    keywords.check(expression)
    return [c for c in cases if keywords.matches(expression, c.id)]
