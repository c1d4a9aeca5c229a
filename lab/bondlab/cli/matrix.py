"""One verb (`run` or `conformance`) on several kernels: `--kernel NAME`, repeatable (vm.catalog names them).

Each kernel gets one boot of its engine running the same command line without `--kernel`, with its reports in
OUT/<kernel>/ and BONDLAB_KERNEL_NAME set so every result says which kernel it came from; the kernels run one
after another (two guests on this machine's two cores would measure each other). What each run cost is
recorded for `bondlab kernel list`. The caller builds the side-by-side table from the results.json files.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass

from bondlab import vm
from bondlab.cli.forward import bondlab_job
from bondlab.vm import catalog

# Options that choose where a run happens or writes: the per-kernel runs get their own.
PLACEMENT = ("--kernel", "--engine", "--out")


@dataclass(frozen=True)
class KernelRun:
    kernel: str
    code: int  # the guest run's exit status; vm.engine.EXIT_VM_ERROR when it could not run
    seconds: float
    out: str  # its report directory
    error: str = ""  # why it did not run

    def results(self) -> list:
        """The records of its results.json (a list for scenarios, {"results": [...]} for conformance)."""
        try:
            with open(os.path.join(self.out, "results.json")) as stream:
                data = json.load(stream)
        except (OSError, ValueError):
            return []
        return data["results"] if isinstance(data, dict) else data

    def summary(self, what: str) -> str:
        """Why it did not run, else "WHAT in N s, exit C"."""
        return self.error or f"{what} in {self.seconds:.0f} s, exit {self.code}"


def without_placement(argv: list) -> list:
    """argv without --kernel/--engine/--out and their values (`--opt V` and `--opt=V`)."""
    out, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word in PLACEMENT:
            skip = True
        elif not word.startswith(tuple(f"{option}=" for option in PLACEMENT)):
            out.append(word)
    return out


def check(args: argparse.Namespace) -> str:
    """Why these options cannot go together ("" when they can)."""
    unknown = [k for k in args.kernel if k not in catalog.KERNELS]
    if unknown:
        known = ", ".join(catalog.KERNELS)
        return f"unknown kernel {', '.join(unknown)}; `bondlab kernel list` names them: {known}"
    if args.engine:
        return "--engine and --kernel both choose where the run happens: give one (a kernel names its engine)"
    if getattr(args, "keep", False):
        return "--keep keeps a failed lab in the lab VM that stays up, which boots one kernel: drop --kernel"
    return ""


def run_on_kernels(args: argparse.Namespace, verb: str, items: int, timeout: float) -> list:
    """Each kernel of args.kernel in turn; the KernelRun of each (one that cannot run here says why)."""
    runs = []
    base = without_placement(args.argv)
    names = list(dict.fromkeys(args.kernel))  # a kernel named twice runs once
    for number, name in enumerate(names, start=1):
        out = os.path.abspath(os.path.join(args.out, name))
        os.makedirs(out, exist_ok=True)
        print(f"=== kernel {number}/{len(names)}: {name} ===", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            engine = catalog.engine(catalog.get(name))
            job = bondlab_job(
                [*base, "--out", out],
                timeout=timeout,
                rw_dirs=[out],
                env=dict(os.environ, BONDLAB_KERNEL_NAME=name),
            )
            code = engine.run(job)
        except vm.VmError as error:
            print(f"bondlab {verb}: {error}", file=sys.stderr, flush=True)
            runs.append(KernelRun(name, error.exit_code, time.monotonic() - started, out, str(error)))
            continue
        seconds = time.monotonic() - started
        catalog.record_run(name, verb, items, seconds, getattr(engine, "last_boot_seconds", None))
        runs.append(KernelRun(name, code, seconds, out))
    return runs


def labelled(runs: list) -> list:
    """(column label, record) of every result of every run: the label is the kernel, or "PLUGIN on KERNEL"
    when the runs compared several plugins."""
    pairs = [(run.kernel, record) for run in runs for record in run.results()]
    several = len({record["plugin"] for _, record in pairs}) > 1
    return [(f"{record['plugin']} on {kernel}" if several else kernel, record) for kernel, record in pairs]


def main(args: argparse.Namespace, verb: str, items: int, unit: str, timeout: float, side_by_side) -> int:
    """`bondlab VERB --kernel ...`: refuse what cannot go together, run on each kernel, print and write
    `side_by_side(labelled(runs))` with each kernel's time; exit 0 when every kernel's run exited 0, the
    runner's own code (124, 125) when one could not run, else 1."""
    problem = check(args)
    if problem:
        print(f"bondlab {verb}: {problem}", file=sys.stderr)
        return 2
    runs = run_on_kernels(args, verb, items, timeout)
    pairs = labelled(runs)
    side = side_by_side(pairs) if pairs else "no kernel ran anything"
    print()
    print(side)
    print(timing(runs, f"{items} {unit}"))
    print(f"reports: {write(runs, args.out, side)} and one directory per kernel in {args.out}")
    worst = max((run.code for run in runs), default=0)
    return worst if worst > 1 else int(any(run.code for run in runs))


def timing(runs: list, what: str) -> str:
    return "\n".join(f"{run.kernel}: {run.summary(what)}" for run in runs)


def write(runs: list, directory: str, table: str) -> str:
    """The side-by-side table and each kernel's time into DIRECTORY/matrix.txt, and an index.html that shows
    them and links each kernel's own reports; the path of matrix.txt."""
    import html

    from bondlab.report.render import page_head

    text = table + "\n\n" + timing(runs, "ran") + "\n"
    path = os.path.join(directory, "matrix.txt")
    with open(path, "w") as stream:
        stream.write(text)
    links = "".join(
        f"<li><a href={json.dumps(run.kernel + '/index.html')}>{html.escape(run.kernel)}</a>"
        f" ({html.escape(run.summary('ran'))})"
        for run in runs
    )
    with open(os.path.join(directory, "index.html"), "w") as stream:
        stream.write(
            page_head("bondlab: one run on several kernels")
            + f"<h1>One run on {len(runs)} kernel(s)</h1><pre>{html.escape(text)}</pre>"
            + f"<p>Each kernel's reports:</p><ul>{links}</ul>"
        )
    return path
