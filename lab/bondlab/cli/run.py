"""`bondlab run SCENARIO|DIR... [--plugin PATH]... [--kernel NAME]... [-k EXPR] [--list] [-x] [--keep]`: run
scenario files and print the render.

On a kernel that cannot bond, the whole run happens in one lab VM boot (`python -m bondlab run ...` in
the guest, the output directory writable); with `--keep`, in the lab VM that stays up (started with the
output directory writable when none is up), so that a failed scenario's lab outlives the run. Two or more
`--plugin` binaries run the same scenarios once per plugin and add a side-by-side table. `-k` selects
scenarios as pytest does (util.keywords), `--list` prints the selection, `-x` stops at the first scenario that
did not pass, `--timeout` ends a scenario that runs longer (an error; its lab is torn down).
`--engine NAME` picks where the run happens
(bondlab.vm), `--kernel NAME` (repeatable) runs it on each named kernel (bondlab.cli.matrix) and adds a
scenarios x kernels table. `--capture all|failed|none` (default failed, all with -v) writes a pcapng of what
the taps saw per run (traffic.pcapng) next to the reports. Exit status: 0 when every scenario passed (or
failed as it was expected to), 1 otherwise, 2 for a selection that is empty or cannot be parsed.
"""

from __future__ import annotations

import argparse
import os
import sys


def select(args: argparse.Namespace) -> list:
    """(path, what it loaded as) of the scenario files the paths and -k select, each file read once: a
    model.scenario.Scenario, or the SourceError of a file that did not load (the run reports it)."""
    from bondlab.model import scenario
    from bondlab.model.yamlsrc import SourceError
    from bondlab.util import keywords

    if args.k:
        keywords.check(args.k)
    out = []
    for path in scenario.discover(args.paths):
        try:
            loaded = scenario.load(path)
        except SourceError as error:
            loaded = error
        name = getattr(loaded, "name", "")
        if not args.k or keywords.matches(args.k, os.path.relpath(path), name):
            out.append((path, loaded))
    return out


def _forward(args: argparse.Namespace) -> int:
    """The run on a kernel that can bond: one boot of the engine (--engine, else the first that can run), or
    with --keep the lab VM that stays up."""
    from bondlab.cli.forward import bondlab_job, forward

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    if args.keep and args.engine not in (None, "uml"):
        print(
            "bondlab run: --keep keeps a failed lab in the uml lab VM that stays up: drop --engine",
            file=sys.stderr,
        )
        return 2
    if not args.keep:
        return forward(bondlab_job(args.argv, timeout=args.vm_timeout, rw_dirs=[out]), args.engine)
    from bondlab.vm.session import LabVm

    running = LabVm(args.vm_name)
    if not running.is_up():
        print(
            f"bondlab run --keep: starting lab VM {args.vm_name!r} (`bondlab vm down` stops it)",
            file=sys.stderr,
        )
        running.up(rw_dirs=[out])
    return running.exec(bondlab_job(args.argv, timeout=args.vm_timeout))


def run(args: argparse.Namespace) -> int:
    if args.pods:  # the deploys read it (pods.choose); the lab VM job inherits the environment
        os.environ["BONDLAB_PODS"] = args.pods
    from bondlab.cli.forward import in_place
    from bondlab.util.keywords import ExpressionError

    try:
        selected = select(args)
    except ExpressionError as error:
        print(f"bondlab run: {error}", file=sys.stderr)
        return 2
    if args.list:
        for path, loaded in selected:
            name, description = getattr(loaded, "name", ""), getattr(loaded, "description", "")
            first = description.strip().splitlines()[0] if description.strip() else ""
            print(f"{os.path.relpath(path)}  {name}  {first}".rstrip())
        print(f"{len(selected)} scenario(s)", file=sys.stderr)
        return 0
    if not selected:
        print(f"bondlab run: no scenario selected in {' '.join(args.paths)}", file=sys.stderr)
        return 2
    if args.kernel:
        return _on_kernels(args, selected)
    if not in_place(args.engine):
        return _forward(args)
    from bondlab.model.yamlsrc import SourceError
    from bondlab.report import render
    from bondlab.run import runner

    plugins = [os.path.abspath(p) for p in args.plugin] or [None]
    policy = args.capture or ("all" if args.verbose else "failed")
    by_plugin: dict = {}
    for index, plugin in enumerate(plugins, start=1):
        results = []
        for number, (path, loaded) in enumerate(selected, start=1):
            head = f"[{number}/{len(selected)}] {os.path.relpath(path)}"
            print(f"{head} ...", file=sys.stderr, flush=True)

            def progress(text: str, head=head) -> None:
                if args.verbose:
                    print(f"    {text}", file=sys.stderr, flush=True)

            for run in range(1, args.repeat + 1):
                suffix = (f"-plugin{index}" if len(plugins) > 1 else "") + (
                    f"-run{run}" if args.repeat > 1 else ""
                )
                capture = runner.Capture(policy, args.out, suffix)
                if isinstance(loaded, SourceError):
                    result = runner.unloadable(path, loaded, plugin)
                else:
                    result = runner.run_scenario(
                        loaded,
                        plugin=plugin,
                        progress=progress,
                        keep=args.keep,
                        timeout=args.timeout,
                        capture=capture,
                    )
                results.append(result)
                print(
                    f"{head} {render.STATUS[result.status]} ({result.seconds:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
                if result.kept:
                    print(_kept(result.kept, args), file=sys.stderr, flush=True)
                if args.exitfirst and not result.ok:
                    break
            if args.exitfirst and not results[-1].ok:
                break
        by_plugin[plugin or results[0].plugin] = results
        if args.exitfirst and not results[-1].ok:
            print(f"bondlab run: stopped at the first failure (-x): {os.path.relpath(path)}", file=sys.stderr)
            break
    everything = [r for results in by_plugin.values() for r in results]
    print(render.console(everything))
    print(render.outage_summary(everything))
    if len(by_plugin) > 1:
        print()
        print(render.compare({plugin: [r.as_dict() for r in rs] for plugin, rs in by_plugin.items()}))
    paths = render.write_all(everything, args.out)
    print(f"reports: {paths['html']}  {paths['json']}  {paths['junit']}")
    return 0 if all(r.ok for r in everything) else 1


def _on_kernels(args: argparse.Namespace, selected: list) -> int:
    """The same run on each --kernel, then scenarios x kernels (x plugins) side by side."""
    from bondlab.cli import matrix
    from bondlab.report import render

    def side_by_side(pairs: list) -> str:
        columns: dict = {}
        for label, record in pairs:
            columns.setdefault(label, []).append(record)
        return render.compare(columns)

    return matrix.main(args, "run", len(selected), "scenario(s)", args.vm_timeout, side_by_side)


def add_verbs(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run scenario files (or folders of them) and print the failover report",
        allow_abbrev=False,  # --kernel and --engine are taken out of the command line the guests re-run
    )
    p.add_argument("paths", nargs="+", metavar="SCENARIO|DIR")
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        help="bond CNI binary under test (default bin/bond); twice or more: side-by-side comparison",
    )
    p.add_argument("--out", default="results/scenarios", help="report directory (default results/scenarios)")
    p.add_argument("--repeat", type=int, default=1, help="run each scenario N times (outage percentiles)")
    p.add_argument(
        "-k", metavar="EXPR", help="only scenarios whose path or name match, e.g. -k 'cut and not pf'"
    )
    p.add_argument("--list", action="store_true", help="print the selected scenarios, run nothing")
    p.add_argument(
        "-x", "--exitfirst", action="store_true", help="stop at the first scenario that does not pass"
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="a scenario that fails keeps its lab deployed (in the lab VM that stays up) to look at",
    )
    p.add_argument("--timeout", type=float, default=0, help="time limit of each scenario (s; default none)")
    p.add_argument("--vm-timeout", type=float, default=3600, help="time limit of the lab VM run (s)")
    p.add_argument("--vm-name", default="default", help="with --keep: the lab VM that stays up")
    p.add_argument(
        "--engine",
        default=None,
        help="where the run happens when this kernel cannot bond: auto (default), uml, qemu, host; "
        "also BONDLAB_ENGINE",
    )
    p.add_argument(
        "--kernel",
        action="append",
        default=[],
        metavar="NAME",
        help="run on this kernel (`bondlab kernel list`: lab, debian-6.1, debian-6.12, debian-6.12-rt, "
        "host); twice or more: scenarios x kernels side by side",
    )
    p.add_argument(
        "--pods",
        default=None,
        choices=("netns", "docker"),
        help="pod backend for every scenario (default netns)",
    )
    p.add_argument(
        "--capture",
        choices=("all", "failed", "none"),
        default=None,
        help="write OUT/<scenario>.pcapng of every tapped frame of these runs (default failed; -v: all)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="show every step while it runs")
    p.set_defaults(func=run)


def _kept(name: str, args: argparse.Namespace) -> str:
    vm = "" if args.vm_name == "default" else f" --vm-name {args.vm_name}"
    return (
        f"    lab {name} kept: `bondlab inspect --name {name}{vm}` to look at it, "
        f"`bondlab destroy --name {name}{vm}` to remove it"
    )
