"""Unique names and ownership marks for everything the lab creates.

Every object gets the prefix `bl` plus a random suffix, and links get an altname or alias starting
with OWNER_MARK so `clean` can find them again by mark (containerlab's ownership altnames), never by
a name pattern that could match a user's own interface.
"""

from __future__ import annotations

import secrets

PREFIX = "bl"
OWNER_MARK = "bondlab-o-"


def unique(kind: str, length: int = 6) -> str:
    """A fresh name like `bl-probe-3f9a1c` (callers that name a link keep it within 15 characters)."""
    return f"{PREFIX}-{kind}-{secrets.token_hex(length // 2)}"
