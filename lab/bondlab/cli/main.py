"""The `bondlab` command line: one module per verb group (vm, lab, actions, tools, run, bench, lint,
conformance), one way into the lab VM (cli.forward)."""

from __future__ import annotations

import argparse
import sys

from bondlab import __version__


def build_parser() -> argparse.ArgumentParser:
    from bondlab.cli import actions, bench, conformance, lab, lint, run, tools, vm

    parser = argparse.ArgumentParser(prog="bondlab", description=__doc__)
    parser.add_argument("--version", action="version", version=f"bondlab {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True)
    vm.add_verbs(sub)
    bench.add_verbs(sub)
    common = lab.common_options()
    lab.add_verbs(sub, common)
    actions.add_verbs(sub, common)
    tools.add_verbs(sub, common)
    run.add_verbs(sub)
    lint.add_verbs(sub)
    conformance.add_verbs(sub)
    return parser


def main(argv=None) -> int:
    from bondlab.cli.vm import route
    from bondlab.vm.engine import EXIT_VM_ERROR, Interrupted, VmError
    from bondlab.vm.kernels import KernelError

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(route(argv))
    args.argv = argv  # the lab verbs re-run themselves in the lab VM with the same words
    try:
        return args.func(args)
    except VmError as error:
        print(f"bondlab: {error}", file=sys.stderr)
        return error.exit_code
    except KernelError as error:
        print(f"bondlab: {error}", file=sys.stderr)
        return EXIT_VM_ERROR
    except (KeyboardInterrupt, Interrupted):
        print("bondlab: interrupted; everything it started was stopped", file=sys.stderr)
        return 130
