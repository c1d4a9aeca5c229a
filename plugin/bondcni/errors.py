"""Typed CNI errors.  Every failure leaves the plugin as a CniError carrying a spec code.

Codes 0-99 are the CNI SPEC's well-known codes; 100+ are this plugin's own (documented below).
"""

from __future__ import annotations

from .jsonio import dumps

# CNI SPEC.md "Error" table (and the Go library's extra constants).
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENV = 4
IO_FAILURE = 5
DECODE_FAILURE = 6
INVALID_CONFIG = 7
INVALID_NETNS = 8
TRY_AGAIN_LATER = 11
NOT_AVAILABLE = 50
NOT_AVAILABLE_LIMITED = 51
# Plugin-specific codes (100+).
LINK_PROBLEM = 100  # a configured link is missing, busy or unusable; CNI_IFNAME already exists
KERNEL_REFUSED = 101  # a netlink request failed
NOT_APPLIED = 102  # the kernel accepted a bond option but reads back a different value
IPAM_RESULT = 103  # the IPAM plugin answered with something we cannot use
STATE = 104  # the state file could not be written or read
CHECK_FAILED = 105  # CHECK found the attachment differs from what ADD made
POLICY = 106  # the node's policy refuses a host link the network config asked for (SECURITY.md)
INTERNAL = 999  # an unexpected exception (the Go library's ErrInternal)


class CniError(Exception):
    """An error the plugin reports to the runtime as the spec's error JSON."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code = int(code)
        self.msg = msg
        self.details = details

    def to_dict(self, cni_version: str = "") -> dict:
        out: dict = {}
        if cni_version:
            out["cniVersion"] = cni_version
        out["code"] = self.code
        out["msg"] = self.msg
        if self.details:
            out["details"] = self.details
        return out

    def to_json(self, cni_version: str = "") -> str:
        return dumps(self.to_dict(cni_version))

    def __repr__(self) -> str:
        return f"CniError({self.code}, {self.msg!r}, {self.details!r})"


def config_error(path: str, expected: str, actual: object) -> CniError:
    """An invalid-config error naming the field path, what was expected and what was given."""
    return CniError(INVALID_CONFIG, f"{path}: expected {expected}, got {_show(actual)}")


def _show(value: object) -> str:
    if value is _MISSING:
        return "nothing (field missing)"
    try:
        return dumps(value)
    except (TypeError, ValueError, RecursionError):
        return repr(value)


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()
MISSING = _MISSING
