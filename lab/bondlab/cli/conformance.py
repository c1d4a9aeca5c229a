"""`bondlab conformance --plugin PATH [--plugin PATH ...] [-k EXPR] [--out DIR] [--list]`: the CNI
conformance cases against bond CNI binaries, through the exec protocol, on a kernel that can bond.

On a kernel that cannot bond the whole run happens in one lab VM boot (like `bondlab run`; `--engine` picks
it); `--kernel NAME` (repeatable) runs the cases on each named kernel and prints cases x kernels. A binary
named macvlan or host-device (the reference plugins) gets only the generic spec cases. Exit status: 0 when
every spec and bond-cni case of every plugin passed (a case of a version the plugin does not claim, and
an extension it does not support, are "not supported", not failed), 1 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys

from bondlab.util.paths import REPO


def conformance(args: argparse.Namespace) -> int:
    from bondlab.conformance import catalog, registry

    try:
        cases = registry.select(catalog.load().values(), args.k)
    except ValueError as error:
        print(f"bondlab conformance: {error}", file=sys.stderr)
        return 2
    if args.list:
        for case in cases:
            print(f"{case.id:38} {case.level:9} {case.source}")
        return 0
    plugins = args.plugin or [str(REPO / "bin" / "bond")]
    missing = [p for p in plugins if not os.access(p, os.X_OK)]
    if missing:
        print(f"bondlab conformance: not an executable: {' '.join(missing)}", file=sys.stderr)
        return 2
    from bondlab.cli.forward import bondlab_job, forward, in_place

    if args.kernel:
        return _on_kernels(args, len(cases) * len(plugins))
    if not in_place(args.engine):
        os.makedirs(args.out, exist_ok=True)
        job = bondlab_job(args.argv, timeout=args.timeout, rw_dirs=[os.path.abspath(args.out)])
        return forward(job, args.engine)
    from bondlab.conformance import report, suite
    from bondlab.conformance.context import Subject

    def progress(result) -> None:
        print(
            f"{registry.LABELS[result.status]:13} {result.case} ({result.seconds:.1f} s) {result.plugin}",
            file=sys.stderr,
            flush=True,
        )

    results = suite.run([Subject.of(p) for p in plugins], cases, progress)
    print(report.console(results))
    if len(plugins) > 1:
        print(report.compare(results))
    paths = report.write_all(results, args.out)
    print(f"reports: {paths['json']}  {paths['junit']}")
    return 1 if any(r.judged and r.status in ("failed", "error") for r in results) else 0


def _on_kernels(args: argparse.Namespace, items: int) -> int:
    """The same cases on each --kernel, then cases x kernels (x plugins) side by side."""
    from bondlab.cli import matrix
    from bondlab.conformance import report
    from bondlab.conformance.suite import CaseResult

    def side_by_side(pairs: list) -> str:
        return report.compare([CaseResult(**{**record, "plugin": label}) for label, record in pairs])

    return matrix.main(args, "conformance", items, "case run(s)", args.timeout, side_by_side)


def add_verbs(sub) -> None:
    p = sub.add_parser(
        "conformance",
        help="CNI protocol conformance cases against bond CNI binaries",
        allow_abbrev=False,  # --kernel and --engine are taken out of the command line the guests re-run
    )
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        help="CNI binary under test (default bin/bond); twice or more: side-by-side table",
    )
    p.add_argument("-k", default="", metavar="EXPR", help="only cases whose id matches (pytest-style -k)")
    p.add_argument(
        "--out", default="results/conformance", help="report directory (default results/conformance)"
    )
    p.add_argument("--list", action="store_true", help="list the cases (id, level, source) and exit")
    p.add_argument("--timeout", type=float, default=3600, help="time limit of the lab VM run (s)")
    p.add_argument(
        "--engine",
        default=None,
        help="where the cases run when this kernel cannot bond: auto, uml, qemu, host",
    )
    p.add_argument(
        "--kernel",
        action="append",
        default=[],
        metavar="NAME",
        help="run on this kernel (`bondlab kernel list`); twice or more: cases x kernels side by side",
    )
    p.set_defaults(func=conformance)
