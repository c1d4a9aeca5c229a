"""The lint rule registry: a rule is declared once (`@rule(code, severity)`) and yields findings; what the
rules share: a bond config's fields and verdict as the plugin's own parser reads them (bondcni.config, the
same code as ADD). The rules: lint.rules (one bond config at a time) and lint.placement (where pods run and
what they share: pools, PFs, nodes); run() runs them all.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

from bondcni import config as plugin_config
from bondcni import fields as plugin_fields
from bondcni.errors import CniError
from bondlab.lint.inputs import Bond, Inputs

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    severity: str
    code: str
    message: str
    fix: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str
    check: Callable  # (Inputs) -> Iterator[(file, line, message, fix)]


RULES: list = []


def rule(code: str, severity: str):
    def register(check: Callable) -> Callable:
        assert severity in SEVERITIES and all(r.code != code for r in RULES), code
        RULES.append(Rule(code, severity, check))
        return check

    return register


def per_bond(check: Callable) -> Callable:
    """A check of one bond config (bond, inputs) -> (key, message, fix), run on every bond found."""

    @functools.wraps(check)  # the rule's own name and module
    def run(inputs: Inputs) -> Iterator:
        for bond in inputs.bonds:
            for key, message, fix in check(bond, inputs):
                yield (
                    bond.text.file,
                    bond.line_of(key) if key else bond.line,
                    f"{bond.subject}: {message}",
                    fix,
                )

    return run


def lookup(bond: Bond, key: str):
    """A field as the plugin reads it (its own lookup: Go's case-insensitive binding); None when absent."""
    value = plugin_fields.json_field(bond.config, key)
    return None if value is plugin_config.MISSING else value


def _int(value) -> int:
    """miimon and friends as the parser takes them (an int or upstream's string of digits), 0 otherwise."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse(bond: Bond):
    """The plugin's verdict on a config: its BondConf or the CniError ADD would return."""
    try:
        return plugin_config.parse_obj(bond.config)
    except CniError as error:
        return error


# Where the rules are declared: a caller of run() imports them (they register as they load; this module
# cannot import them, they import it).
RULE_MODULES = {"bondlab.lint.rules", "bondlab.lint.placement"}


def run(inputs: Inputs) -> list:
    """Every rule's findings, sorted by file and line; a parser error another error already explains at
    the same line is dropped."""
    missing = RULE_MODULES - {r.check.__module__ for r in RULES}
    assert not missing, f"lint rules not loaded: import {', '.join(sorted(missing))} before run()"
    found = [
        Finding(file, line, r.severity, r.code, message, fix)
        for r in RULES
        for file, line, message, fix in r.check(inputs)
    ]
    explained = {(f.file, f.line) for f in found if f.severity == "error" and f.code != "parse-error"}
    found = [f for f in found if f.code != "parse-error" or (f.file, f.line) not in explained]
    return sorted(found, key=lambda f: (f.file, f.line, SEVERITIES.index(f.severity), f.code))
