"""A deployed lab's record on disk, including its undo log.

`<state dir>/labs/<name>/lab.json` holds the lab id (the `bl-<id>-` netns prefix and the owner mark),
the world (nodes, PFs, VFs and their fake PCI addresses), the pods, and a LIFO *persistent* undo log:
every creation appends the action that removes it, before the next step runs. Deploy unwinds it on
failure, Ctrl-C or SIGTERM; `bondlab destroy` unwinds the same log later from another process.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import Callable, Optional

from bondlab import names
from bondlab.paths import state_dir


class LabError(Exception):
    """A lab-level failure with a message fit for the user (names the object)."""


def labs_dir() -> Path:
    return state_dir() / "labs"


def mark(lab_id: str) -> str:
    return f"{names.OWNER_MARK}{lab_id}"


class LabState:
    def __init__(self, path: Path, data: dict) -> None:
        self.dir, self.data = path, data

    # -- on disk ------------------------------------------------------------------------------
    @classmethod
    def create(cls, name: str) -> LabState:
        path = labs_dir() / name
        if (path / "lab.json").exists():
            raise LabError(f"a lab named {name!r} is already deployed; `bondlab destroy --name {name}` first")
        path.mkdir(parents=True, exist_ok=True)
        state = cls(path, {"name": name, "id": secrets.token_hex(3), "undo": [], "pods": [], "pfs": []})
        state.save()
        return state

    @classmethod
    def load(cls, name: Optional[str] = None) -> LabState:
        if name is None:
            found = list_labs()
            if len(found) != 1:
                raise LabError(
                    "no lab is deployed"
                    if not found
                    else f"several labs are deployed ({', '.join(found)}); say which with --name"
                )
            name = found[0]
        path = labs_dir() / name / "lab.json"
        try:
            return cls(path.parent, json.loads(path.read_text()))
        except FileNotFoundError:
            raise LabError(f"no lab named {name!r} is deployed") from None

    def save(self) -> None:
        tmp = self.dir / f"lab.json.tmp{os.getpid()}"
        tmp.write_text(json.dumps(self.data, indent=1))
        os.replace(tmp, self.dir / "lab.json")

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- identity -----------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.data["id"]

    @property
    def mark(self) -> str:
        return mark(self.id)

    def netns_name(self, role: str) -> str:
        return f"{names.PREFIX}-{self.id}-{role}"

    # -- the undo log --------------------------------------------------------------------------
    def defer(self, op: str, **args) -> None:
        self.data["undo"].append({"op": op, **args})
        self.save()

    def unwind(self, handlers: dict, progress: Optional[Callable] = None) -> list:
        """Run the undo log newest first; a failing step is reported and the rest still run."""
        errors = []
        while self.data["undo"]:
            step = self.data["undo"][-1]
            args = {k: v for k, v in step.items() if k != "op"}
            try:
                handlers[step["op"]](self, **args)
            except Exception as error:
                errors.append(f"{step['op']} {args}: {error}")
            self.data["undo"].pop()
            self.save()
            if progress:
                progress()
        if errors:
            print("bondlab: some teardown steps failed:\n  " + "\n  ".join(errors), file=sys.stderr)
        return errors


def list_labs() -> list:
    try:
        return sorted(p.name for p in labs_dir().iterdir() if (p / "lab.json").exists())
    except FileNotFoundError:
        return []
