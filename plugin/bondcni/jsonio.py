"""JSON through the interpreter's C accelerator (_json) only.

`import json` costs ~26 ms per exec in the lab VM (its decoder imports re, 20 modules); a CNI plugin is exec'd
for every pod, so the plugin decodes and encodes with _json's scanner and encoder directly. Same grammar as
json.loads/json.dumps, except that NaN and Infinity are refused (as Go's encoding/json refuses them).
"""

from __future__ import annotations

import _json

WHITESPACE = " \t\n\r"


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


class _Context:
    """The attributes _json.make_scanner reads (json.decoder.JSONDecoder's)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_no_constants)
    memo: dict = {}


_scan = _json.make_scanner(_Context())
_encode = _json.make_encoder(None, None, _json.encode_basestring_ascii, None, ": ", ", ", False, False, False)
_encode_sorted = _json.make_encoder(
    None, None, _json.encode_basestring_ascii, None, ": ", ", ", True, False, False
)


def loads(data) -> object:
    """bytes (UTF-8) or str -> the value; ValueError (with the position) when it is not one JSON value."""
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    start = 0
    while start < len(text) and text[start] in WHITESPACE:
        start += 1
    try:
        value, end = _scan(text, start)
    except (StopIteration, SystemError):
        # The accelerator reports a syntax error through json.decoder's exception class, which it finds only
        # when json.decoder is imported: on this (rare) path, let the json package say what is wrong.
        import json

        json.loads(text)  # raises json.JSONDecodeError, a ValueError with line and column
        raise ValueError("not JSON") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    rest = end
    while rest < len(text) and text[rest] in WHITESPACE:
        rest += 1
    if rest != len(text):
        raise ValueError(f"extra data at char {rest}")
    return value


def dumps(value: object, sort_keys: bool = False) -> str:
    """The value as compact ASCII JSON (every non-ASCII and control character escaped)."""
    if isinstance(value, str):
        return _json.encode_basestring_ascii(value)
    return "".join((_encode_sorted if sort_keys else _encode)(value, 0))
