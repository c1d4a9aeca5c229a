"""Entry point: `python -m bondcni`, the `bond` console script and bin/bond."""

from __future__ import annotations

import sys

from . import os
from .skel import COMMANDS, dispatch


def _command(module: str, function: str):
    def run(args, log):
        return getattr(__import__(f"bondcni.{module}", fromlist=[function]), function)(args, log)

    return run


def _handlers() -> dict:
    return {command: _command(*where) for command, where in COMMANDS.items() if where}


def main() -> int:
    return dispatch(_handlers, os.environ, sys.stdin.buffer, sys.stdout, sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
