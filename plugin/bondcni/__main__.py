"""Entry point: `python -m bondcni`, the `bond` console script and the bin/bond zipapp."""

from __future__ import annotations

import sys

from . import os

# Each command's module is imported only when that command runs: an exec pays for one command's code.
COMMANDS = {
    "ADD": ("add", "cmd_add"),
    "DEL": ("delete", "cmd_del"),
    "CHECK": ("check", "cmd_check"),
    "GC": ("delete", "cmd_gc"),
    "STATUS": ("check", "cmd_status"),
}


def _command(module: str, function: str):
    def run(args, log):
        return getattr(__import__(f"bondcni.{module}", fromlist=[function]), function)(args, log)

    return run


def _handlers() -> dict:
    return {command: _command(*where) for command, where in COMMANDS.items()}


def main() -> int:
    from .skel import dispatch

    return dispatch(_handlers, os.environ, sys.stdin.buffer, sys.stdout, sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
