"""The scenario schema (scenario.schema.json): the single source of truth for a scenario's shape, and the
subset of JSON Schema that checks it and types what it declares.

`validate()` implements the subset the schema uses (type, enum, pattern, required, properties,
additionalProperties, min/maxProperties, items, minItems, minimum/maximum, $ref, and anyOf of alternatives
told apart by their type), so no extra dependency is needed; `typed()` turns what the schema calls a duration
into seconds and a single value where a list of them is allowed ("one or many": `names`, `podLinks`) into a
list of one, once, where the file is read.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from bondlab.model.yamlsrc import SourceError, where

# package data; scenarios/schema.json links it
SCHEMA = Path(__file__).resolve().parents[1] / "scenario.schema.json"


@lru_cache(maxsize=1)
def schema() -> dict:
    with open(SCHEMA) as stream:
        return json.load(stream)


_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
}


def _type_ok(value: Any, kinds) -> bool:
    for kind in [kinds] if isinstance(kinds, str) else kinds:
        if kind in ("integer", "number") and isinstance(value, bool):
            continue
        if isinstance(value, _TYPES[kind]):
            return True
    return False


def _resolved(node: dict, defs: dict) -> dict:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[1]]
    return node


def _types(node: dict) -> list:
    kinds = node.get("type", [])
    return [kinds] if isinstance(kinds, str) else kinds


def _got(value: Any) -> str:
    return type(value).__name__ if value is not None else "nothing"


def _alternative(value: Any, node: dict, defs: dict) -> Optional[dict]:
    """The anyOf alternative `value` is checked as: the first whose type it has (alternatives differ by
    type, so an error inside the one meant is the error reported), None when none has it."""
    for alternative in node["anyOf"]:
        if _type_ok(value, _types(_resolved(alternative, defs))):
            return alternative
    return None


def validate(value: Any, node: dict, path: str, parent: Any, key: Any, subject: str) -> None:
    """Raise SourceError at the offending value's line, naming its path and what was expected."""
    root = schema()
    node = _resolved(node, root["$defs"])

    def fail(message: str, at_parent: Any = parent, at_key: Any = key) -> None:
        raise SourceError(message, where(at_parent, at_key, where(value)), path, subject)

    if "anyOf" in node:
        defs = root["$defs"]
        alternative = _alternative(value, node, defs)
        if alternative is None:
            kinds = " or ".join(kind for alt in node["anyOf"] for kind in _types(_resolved(alt, defs)))
            what = f"{node['description']} ({kinds})" if "description" in node else kinds
            fail(f"expected {what}, got {_got(value)}")
        validate(value, alternative, path, parent, key, subject)
        return

    if "enum" in node and value not in node["enum"]:
        fail(f"expected one of {', '.join(map(str, node['enum']))}, got {value!r}")
    if "type" in node and not _type_ok(value, node["type"]):
        said = f" ({node['description']})" if "description" in node else ""
        fail(f"expected {' or '.join(_types(node))}, got {_got(value)}{said}")
    if isinstance(value, str) and "pattern" in node and not re.search(node["pattern"], value):
        fail(f"{value!r} does not match: {node.get('description') or node['pattern']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in node and value < node["minimum"]:
            fail(f"must be at least {node['minimum']}, got {value}")
        if "maximum" in node and value > node["maximum"]:
            fail(f"must be at most {node['maximum']}, got {value}")
    if isinstance(value, dict):
        props = node.get("properties", {})
        for name in node.get("required", []):
            if name not in value:
                fail(f"missing required key {name!r}")
        if node.get("additionalProperties") is False:
            for name in value:
                if name not in props:
                    fail(f"unknown key {name!r} (expected one of: {', '.join(props)})", value, name)
        if len(value) < node.get("minProperties", 0):
            fail(f"expected at least {node['minProperties']} key(s), one of: {', '.join(props)}")
        if "maxProperties" in node and len(value) > node["maxProperties"]:
            fail(f"expected exactly one of: {', '.join(props)}; got {', '.join(value)}")
        for name, child in value.items():
            if name in props:
                validate(child, props[name], f"{path}.{name}" if path else name, value, name, subject)
    if isinstance(value, list):
        if len(value) < node.get("minItems", 0):
            fail(f"expected at least {node['minItems']} item(s)")
        if "items" in node:
            for index, child in enumerate(value):
                validate(child, node["items"], f"{path}[{index}]", value, index, subject)


def duration(value: Any) -> float:
    """'100ms' / '1.5s' / 100 (ms) -> seconds."""
    if isinstance(value, int):
        return value / 1000
    text = str(value)
    return float(text[:-2]) / 1000 if text.endswith("ms") else float(text[:-1])


def typed(value: Any, node: dict, defs: dict) -> Any:
    """`value` as the schema `node` declares it: every `duration` in seconds (float)."""
    if node.get("$ref") == "#/$defs/duration":
        return duration(value)
    node = _resolved(node, defs)
    if "anyOf" in node:
        alternative = _alternative(value, node, defs) or {}
        # a single value where an alternative is a list of such values: a list of one
        lists = [alt for alt in node["anyOf"] if alt.get("type") == "array"]
        one_of_many = any(alt.get("items") == alternative for alt in lists)
        return [typed(value, alternative, defs)] if one_of_many else typed(value, alternative, defs)
    if isinstance(value, dict):
        props = node.get("properties", {})
        return {k: typed(v, props[k], defs) if k in props else v for k, v in value.items()}
    if isinstance(value, list) and "items" in node:
        return [typed(v, node["items"], defs) for v in value]
    return value
