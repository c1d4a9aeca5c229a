"""Reading untrusted JSON one field at a time: names the kernel or libcni would take, and typed fields.

Shared by the config parser, the state records (which must not trust their own files either) and the
commands' checks of CNI_* values. Keys bind as Go's encoding/json binds them (upstream's quirk, kept).
"""

from __future__ import annotations

from .errors import DECODE_FAILURE, MISSING, CniError, config_error
from .jsonio import loads

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs ~30 modules per exec
    from typing import Any, Mapping, Optional

MAX_MS = 2**31 - 1
HEX = frozenset("0123456789abcdefABCDEF")
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def decode(raw: bytes) -> dict:
    """stdin bytes -> JSON object, or CniError 6."""
    try:
        obj = loads(raw)
    except (ValueError, RecursionError) as exc:
        raise CniError(DECODE_FAILURE, "failed to decode the network configuration", str(exc)) from None
    if not isinstance(obj, dict):
        raise CniError(
            DECODE_FAILURE, f"network configuration: expected a JSON object, got {type(obj).__name__}"
        )
    return obj


def is_pci_address(value: object) -> bool:
    """dddd:bb:dd.f (hex domain, bus, device; function 0-7), the whole string."""
    if (
        not isinstance(value, str)
        or len(value) != 12
        or value[4] != ":"
        or value[7] != ":"
        or value[10] != "."
    ):
        return False
    return all(c in HEX for c in value[:4] + value[5:7] + value[8:10]) and value[11] in "01234567"


def is_ifname(value: object) -> bool:
    """A Linux interface name as the kernel's dev_valid_name() takes it: 1-15 bytes, no '/', ':', space."""
    return (
        isinstance(value, str)
        and 0 < len(value.encode("utf-8", "replace")) <= 15
        and value not in (".", "..")
        and value.isprintable()
        and not any(c in "/:" or c.isspace() for c in value)
    )


def is_name(value: object) -> bool:
    """A network / container id: an alphanumeric, then alphanumerics, '_', '.', '-' (libcni's rule)."""
    return (
        isinstance(value, str)
        and value != ""
        and value[0].isascii()
        and value[0].isalnum()
        and all(c in NAME_CHARS for c in value)
    )


def is_plugin_name(value: object) -> bool:
    """A plugin type looked up in CNI_PATH: a bare file name (no separators, no dot files), printable."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= 255
        and value.isprintable()
        and not any(c in "/\\\0" for c in value)
        and not value.startswith(".")
    )


_FOLDED: dict = {}  # id(obj) -> (obj, {lower-case key: value}): each config object is folded once


def json_field(obj: Mapping[str, Any], key: str) -> Any:
    """Look a key up as Go's encoding/json binds it: exact name first, then case-insensitively."""
    if key in obj:
        return obj[key]
    held = _FOLDED.get(id(obj))
    if held is None or held[0] is not obj:
        held = _FOLDED[id(obj)] = (obj, {k.lower(): v for k, v in reversed(list(obj.items()))})
    return held[1].get(key.lower(), MISSING)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def opt_int(obj: Mapping[str, Any], key: str, lo: int, hi: int, path: str = "") -> Optional[int]:
    value = json_field(obj, key)
    if value is MISSING or value is None:
        return None
    if not is_int(value) or not lo <= value <= hi:
        raise config_error(path + key, f"an integer from {lo} to {hi}", value)
    return value


def opt_bool(obj: Mapping[str, Any], key: str) -> bool:
    value = json_field(obj, key)
    if value is MISSING or value is None:
        return False
    if not isinstance(value, bool):
        raise config_error(key, "true or false", value)
    return value


def opt_str(obj: Mapping[str, Any], key: str, path: str = "") -> Optional[str]:
    value = json_field(obj, key)
    if value is MISSING or value is None:
        return None
    if not isinstance(value, str):
        raise config_error(path + key, "a string", value)
    return value


def opt_choice(
    obj: Mapping[str, Any], key: str, table: Mapping[str, int], numeric: bool = False
) -> Optional[int]:
    """A named kernel value ("fast"); with numeric=True also its number (upstream's int form)."""
    value = json_field(obj, key)
    if value is MISSING or value is None:
        return None
    if isinstance(value, str) and value in table:
        return table[value]
    if numeric and is_int(value) and value in table.values():
        return value
    names = ", ".join(table)
    expected = f"one of {names}" + (f" or 0..{max(table.values())}" if numeric else "")
    raise config_error(key, expected, value)


def ms(obj: Mapping[str, Any], key: str, allow_digit_string: bool = False) -> Optional[int]:
    """A millisecond count: an int, or (upstream's miimon form) a string of digits."""
    value = json_field(obj, key)
    if value is MISSING or value is None:
        return None
    if allow_digit_string and isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if is_int(value) and 0 <= value <= MAX_MS:
        return value
    expected = f"an integer from 0 to {MAX_MS}"
    if allow_digit_string:
        expected += ' or a string of digits like "100"'
    raise config_error(key, expected, value)
