"""The scenario schema (scenario.schema.json): the single source of truth for a scenario's shape, and the
subset of JSON Schema that checks it and types what it declares.

`validate()` implements the subset the schema uses (type, enum, pattern, required, properties,
additionalProperties, min/maxProperties, items, minItems, minimum/maximum, $ref), so no extra dependency is
needed; `typed()` turns what the schema calls a duration into seconds, once, where the file is read.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

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


def validate(value: Any, node: dict, path: str, parent: Any, key: Any, subject: str) -> None:
    """Raise SourceError at the offending value's line, naming its path and what was expected."""
    root = schema()
    while "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[1]]

    def fail(message: str, at_parent: Any = parent, at_key: Any = key) -> None:
        raise SourceError(message, where(at_parent, at_key, where(value)), path, subject)

    if "enum" in node and value not in node["enum"]:
        fail(f"expected one of {', '.join(map(str, node['enum']))}, got {value!r}")
    if "type" in node and not _type_ok(value, node["type"]):
        kinds = node["type"] if isinstance(node["type"], list) else [node["type"]]
        got = type(value).__name__ if value is not None else "nothing"
        said = f" ({node['description']})" if "description" in node else ""
        fail(f"expected {' or '.join(kinds)}, got {got}{said}")
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
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[1]]
    if isinstance(value, dict):
        props = node.get("properties", {})
        return {k: typed(v, props[k], defs) if k in props else v for k, v in value.items()}
    if isinstance(value, list) and "items" in node:
        return [typed(v, node["items"], defs) for v in value]
    return value
