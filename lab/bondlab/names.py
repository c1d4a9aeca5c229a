"""Unique names and ownership marks for everything the lab creates.

Every object gets the prefix `bl` plus a random suffix, and links get an altname or alias starting
with OWNER_MARK so `clean` can find them again by mark (containerlab's ownership altnames), never by
a name pattern that could match a user's own interface.
"""

from __future__ import annotations

import secrets

PREFIX = "bl"
OWNER_MARK = "bondlab-o-"
IFNAMSIZ = 15


def unique(kind: str, length: int = 6) -> str:
    """A fresh name like `bl-probe-3f9a1c`; callers keep it within IFNAMSIZ where it names a link."""
    return f"{PREFIX}-{kind}-{secrets.token_hex(length // 2)}"


def link_name(role: str) -> str:
    name = f"{PREFIX}{role}{secrets.token_hex(3)}"
    if len(name) > IFNAMSIZ:
        raise ValueError(f"link name {name!r} is longer than {IFNAMSIZ} characters")
    return name
