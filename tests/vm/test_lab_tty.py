"""`bondlab exec -it` from the host into a lab deployed in the lab VM that stays up: the command gets a
terminal of its own (vm.tty), what is typed reaches it, its output and exit code come back. Driven through a
pseudo-terminal, as a person at a terminal drives it."""

from __future__ import annotations

import os
import pty
import select
import time

import pytest

from tests.lab.conftest import SEEDS
from tests.vm.test_runner import BONDLAB, bondlab, uml_engine, unchanged_host  # noqa: F401

pytestmark = pytest.mark.vm


def _converse(argv: list, env: dict, typed: bytes, timeout: float = 90) -> tuple:
    """Run argv on a new pseudo-terminal, type `typed` once it printed something, read until it exits."""
    pid, master = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env)
    out, sent, deadline = b"", False, time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if not ready:
            if not sent and b"#" in out:  # the shell's prompt
                os.write(master, typed)
                sent = True
            continue
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_exec_it_gives_the_pod_a_terminal_through_the_vm(tmp_path, unchanged_host):  # noqa: F811
    env = dict(os.environ, BONDLAB_STATE=str(tmp_path / "state"), PS1="# ")
    deployed = bondlab("deploy", str(SEEDS / "000-sriov-bond-fixed.yaml"), env=env, timeout=300)
    try:
        assert deployed.returncode == 0, deployed.stderr
        code, said = _converse(
            [*BONDLAB, "exec", "-it", "test-pod", "--", "sh"],
            env,
            b"tty; ip -br link show bond0; exit 3\r",
        )
        assert code == 3, said
        assert "/dev/pts/" in said and "bond0" in said and "UP" in said, said
    finally:
        bondlab("destroy", env=env)
        assert bondlab("vm", "down", env=env).returncode == 0
