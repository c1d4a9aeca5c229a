"""Entry point: `python -m bondcni`, the `bond` console script and the bin/bond zipapp."""

from __future__ import annotations

import os
import sys


def _handlers() -> dict:
    from .commands import HANDLERS

    return HANDLERS


def main() -> int:
    from .skel import dispatch

    return dispatch(_handlers, os.environ, sys.stdin.buffer, sys.stdout, sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
