"""The `host` engine: the current kernel, when the probe says it can run the lab."""

from __future__ import annotations

import subprocess
import threading

from bondlab import capabilities
from bondlab.capabilities import Verdict
from bondlab.vm.engine import (
    Engine,
    Job,
    VmError,
    VmTimeout,
    job_env,
    kill_group,
    restore_signal,
    terminate_as_exception,
)


class HostEngine(Engine):
    name = "host"

    def available(self) -> Verdict:
        return capabilities.probe().native

    def describe(self) -> str:
        return f"host kernel {capabilities.probe().kernel}"

    def run(self, job: Job) -> int:
        previous = terminate_as_exception()
        # Output goes straight to our stdout or to the job's file; a stream without a file descriptor
        # (a StringIO) is fed through a pipe.
        copy = job.out is not None and not _has_fileno(job.out)
        try:
            proc = subprocess.Popen(
                list(job.argv),
                cwd=job.cwd,
                env=job_env(job, BONDLAB_IN_GUEST="host"),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if copy else job.out,
                stderr=subprocess.STDOUT if job.out is not None else None,
                start_new_session=True,
                text=copy or None,
            )
        except OSError as error:
            restore_signal(previous)
            raise VmError(f"cannot start {job.argv[0]!r}: {error}") from None
        try:
            if copy:
                copier = threading.Thread(target=_copy, args=(proc.stdout, job.out), daemon=True)
                copier.start()
                code = proc.wait(job.timeout)
                copier.join()
                return code
            return proc.wait(job.timeout)
        except subprocess.TimeoutExpired:
            raise VmTimeout(f"the job did not finish within {job.timeout:g} s and was killed") from None
        finally:
            if proc.poll() is None:
                kill_group(proc.pid, proc, grace=2.0)
            restore_signal(previous)


def _has_fileno(stream) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _copy(source, sink) -> None:
    for line in source:
        sink.write(line)
