"""LIFO undo registered at creation time (the kernel selftests' `defer`): what was made is unmade,
in reverse order, on success, failure, Ctrl-C and SIGTERM alike."""

from __future__ import annotations

import sys
from typing import Callable


class Undo:
    def __init__(self) -> None:
        self._stack: list = []

    def defer(self, action: Callable, *args, **kwargs) -> None:
        self._stack.append((action, args, kwargs))

    def run(self) -> None:
        """Run every deferred action, newest first; one failing does not stop the rest."""
        errors = []
        while self._stack:
            action, args, kwargs = self._stack.pop()
            try:
                action(*args, **kwargs)
            except Exception as error:  # keep unwinding; report at the end
                errors.append(f"{getattr(action, '__name__', action)}{args}: {error}")
        if errors:
            print("bondlab: some cleanup steps failed:\n  " + "\n  ".join(errors), file=sys.stderr)
            raise RuntimeError("cleanup incomplete: " + "; ".join(errors))

    def __enter__(self) -> Undo:
        return self

    def __exit__(self, *exc) -> None:
        self.run()
