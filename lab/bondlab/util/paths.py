"""Where the lab's files are (the repository, the package) and where it keeps its cache (kernels) and its
runtime state (running VMs)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # lab/bondlab
REPO = PACKAGE.parents[1]  # the checkout: scenarios/, bin/


def cache_dir() -> Path:
    base = os.environ.get("BONDLAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bondlab"
    )
    return Path(base)


def state_dir() -> Path:
    base = os.environ.get("BONDLAB_STATE") or os.path.join(
        os.environ.get("XDG_RUNTIME_DIR") or "/run", "bondlab"
    )
    return Path(base)
