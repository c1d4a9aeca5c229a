"""`bondlab run SCENARIO|DIR... [--plugin PATH]...`: run scenario files and print the report.

On a kernel that cannot bond, the whole run happens in one lab VM boot (`python -m bondlab run ...` in
the guest, the output directory writable). Two or more `--plugin` binaries run the same scenarios once
per plugin and add a side-by-side table. Exit status: 0 when every scenario passed (or failed as it was
expected to), 1 otherwise. `--capture all|failed|none` (default failed, all with -v) writes a pcapng of what
the taps saw per run (run.capture) next to the reports.
"""

from __future__ import annotations

import argparse
import os
import sys


def run(args: argparse.Namespace) -> int:
    if args.pods:  # the deploys read it (pods.choose); the lab VM job inherits the environment
        os.environ["BONDLAB_PODS"] = args.pods
    from bondlab.cli.forward import bondlab_job, forward, in_place

    if not in_place():  # the whole run in one lab VM boot, the report directory writable
        os.makedirs(args.out, exist_ok=True)
        return forward(bondlab_job(args.argv, timeout=args.timeout, rw_dirs=[os.path.abspath(args.out)]))
    from bondlab.model import scenario
    from bondlab.report import render as report
    from bondlab.run import runner

    files = scenario.discover(args.paths)
    if not files:
        print(f"bondlab run: no scenario files in {' '.join(args.paths)}", file=sys.stderr)
        return 2
    plugins = [os.path.abspath(p) for p in args.plugin] or [None]
    policy = args.capture or ("all" if args.verbose else "failed")
    by_plugin: dict = {}
    for index, plugin in enumerate(plugins, start=1):
        results = []
        for number, path in enumerate(files, start=1):
            head = f"[{number}/{len(files)}] {os.path.relpath(path)}"
            print(f"{head} ...", file=sys.stderr, flush=True)

            def progress(text: str, head=head) -> None:
                if args.verbose:
                    print(f"    {text}", file=sys.stderr, flush=True)

            for run in range(1, args.repeat + 1):
                suffix = (f"-plugin{index}" if len(plugins) > 1 else "") + (
                    f"-run{run}" if args.repeat > 1 else ""
                )
                capture = runner.Capture(policy, args.out, suffix)
                result = runner.run_scenario(path, plugin=plugin, progress=progress, capture=capture)
                results.append(result)
                print(
                    f"{head} {report.STATUS[result.status]} ({result.seconds:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
        by_plugin[plugin or results[0].plugin] = results
    everything = [r for results in by_plugin.values() for r in results]
    print(report.console(everything))
    print(report.outage_summary(everything))
    if len(by_plugin) > 1:
        print()
        print(report.compare(by_plugin))
    paths = report.write_all(everything, args.out)
    print(f"reports: {paths['html']}  {paths['json']}  {paths['junit']}")
    return 0 if all(r.ok for r in everything) else 1


def add_verbs(sub) -> None:
    p = sub.add_parser("run", help="run scenario files (or folders of them) and print the failover report")
    p.add_argument("paths", nargs="+", metavar="SCENARIO|DIR")
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        help="bond CNI binary under test (default bin/bond); twice or more: side-by-side comparison",
    )
    p.add_argument("--out", default="results/scenarios", help="report directory (default results/scenarios)")
    p.add_argument("--repeat", type=int, default=1, help="run each scenario N times (outage percentiles)")
    p.add_argument("--timeout", type=float, default=3600, help="time limit of the lab VM run (s)")
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
