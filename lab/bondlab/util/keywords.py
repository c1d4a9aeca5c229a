"""`-k EXPR`, pytest's keyword expressions: the one grammar of `bondlab run` and `bondlab conformance`.

EXPR is words joined by `and`, `or`, `not` and parentheses; a word matches when it is a case-insensitive
substring of one of the texts that describe the thing selected: for `run` a scenario file's path (as given
or found under a folder, so folder and file names both count) and its name, for `conformance` a case's id.
`-k failover`, `-k "modes and not 802"`, `-k "(pf or uplink) and cut"`. Parsed here, never evaluated as code.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


class ExpressionError(ValueError):
    pass


def _tokens(expr: str) -> list:
    out, at = [], 0
    expr = expr.strip()
    while at < len(expr):
        found = _TOKEN.match(expr, at)
        if not found:
            break
        out.append(found.group(1))
        at = found.end()
    return out


class _Parser:
    """or := and ('or' and)* ; and := not ('and' not)* ; not := 'not' not | '(' or ')' | WORD"""

    def __init__(self, expr: str, haystack: str) -> None:
        self.expr, self.tokens, self.hay = expr, _tokens(expr), haystack.lower()

    def fail(self, what: str) -> ExpressionError:
        return ExpressionError(f"-k {self.expr!r}: {what}")

    def peek(self):
        return self.tokens[0] if self.tokens else None

    def take(self) -> str:
        if not self.tokens:
            raise self.fail("ends too early")
        return self.tokens.pop(0)

    def either(self) -> bool:
        value = self.both()
        while self.peek() == "or":
            self.take()
            value = self.both() or value
        return value

    def both(self) -> bool:
        value = self.negation()
        while self.peek() == "and":
            self.take()
            value = self.negation() and value
        return value

    def negation(self) -> bool:
        token = self.take()
        if token == "not":
            return not self.negation()
        if token == "(":
            value = self.either()
            if self.take() != ")":
                raise self.fail("a '(' is not closed")
            return value
        if token in (")", "and", "or"):
            raise self.fail(f"unexpected {token!r}")
        return token.lower() in self.hay

    def parse(self) -> bool:
        if not self.tokens:
            raise self.fail("empty expression")
        value = self.either()
        if self.tokens:
            raise self.fail(f"unexpected {self.tokens[0]!r}")
        return value


def matches(expr: str, *texts: str) -> bool:
    """Whether keyword expression `expr` selects the thing described by `texts` (a path and a name, an id)."""
    return _Parser(expr, "\n".join(texts)).parse()


def check(expr: str) -> None:
    """Raise ExpressionError now for an expression that cannot be parsed (before anything is selected)."""
    matches(expr, "")
