"""Entry point: `python -m bondcni`, the `bond` console script and the bin/bond zipapp."""

from __future__ import annotations

import os
import sys


def main() -> int:
    from .commands import HANDLERS
    from .skel import dispatch

    return dispatch(HANDLERS, os.environ, sys.stdin.buffer, sys.stdout, sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
