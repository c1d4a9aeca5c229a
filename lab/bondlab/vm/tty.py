"""`bondlab exec -it` in the lab VM that stays up: a terminal across the control directory.

The agent runs a job with no terminal and its output to a file, so an interactive command gets one here:
the guest side (relay) runs the command on a pseudo-terminal of its own, copies what the command writes to
its output (which the host streams as for any job), and types into it what the host drops into
`<dir>/in/` as numbered files (`<n>` keystrokes, `<n>.size` "ROWS COLS" after a resize), written elsewhere
and renamed in, as the job queue is. The host side (Keyboard) puts the local terminal in raw mode and
drops each read of stdin there; Ctrl-C and friends travel as keystrokes to the command, as in `ssh -t`.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import sys
import termios
import threading
from pathlib import Path

POLL = 0.01


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def terminal_size() -> tuple:
    try:
        size = os.get_terminal_size(sys.stdin.fileno())
        return size.lines, size.columns
    except OSError:
        return 24, 80


def relay(directory: str, argv: list, rows: int, cols: int) -> int:
    """Guest side: run `argv` on a new pseudo-terminal; its exit code."""
    import pty

    inbox = Path(directory) / "in"
    pid, master = pty.fork()
    if pid == 0:  # the command, its terminal its stdin/stdout/stderr
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _set_size(master, rows, cols)
    out = sys.stdout.buffer
    while True:
        ready, _, _ = select.select([master], [], [], POLL)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the command and everything on its terminal ended
                data = b""
            if not data:
                break
            out.write(data)
            out.flush()
        for name in sorted(os.listdir(inbox), key=lambda n: int(n.split(".")[0])) if inbox.is_dir() else ():
            path = inbox / name
            content = path.read_bytes()
            if name.endswith(".size"):
                _set_size(master, *map(int, content.split()))
            else:
                os.write(master, content)
            path.unlink()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8


class Keyboard:
    """Host side: stdin, raw, into `<directory>/in/` while the job runs; the terminal restored after."""

    def __init__(self, directory: Path) -> None:
        self.inbox = directory / "in"
        self.inbox.mkdir(parents=True)
        self.number, self.lock, self.saved = 0, threading.Lock(), None
        self.done = threading.Event()

    def drop(self, data: bytes, suffix: str = "") -> None:
        with self.lock:
            staged = self.inbox.parent / f"staged{self.number}"
            staged.write_bytes(data)
            os.rename(staged, self.inbox / f"{self.number}{suffix}")
            self.number += 1

    def _read(self) -> None:
        fd = sys.stdin.fileno()
        while not self.done.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                data = os.read(fd, 4096)
                if not data:
                    return
                self.drop(data)

    def __enter__(self) -> Keyboard:
        import tty

        if sys.stdin.isatty():
            self.saved = termios.tcgetattr(sys.stdin.fileno())
            tty.setraw(sys.stdin.fileno())
            signal.signal(signal.SIGWINCH, lambda *_: self.drop(b"%d %d" % terminal_size(), ".size"))
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        if self.saved is not None:
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self.saved)
            signal.signal(signal.SIGWINCH, signal.SIG_DFL)
