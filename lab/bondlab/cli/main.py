"""The `bondlab` command line: one module per verb group (vm, lab, actions, tools, run, bench, lint,
conformance), one way into the lab VM (cli.forward). `bondlab --help` says what bondlab is and where to start
(ABOUT) and lists the verbs by group, each with the help its module gives it."""

from __future__ import annotations

import argparse
import shutil
import sys
import textwrap

from bondlab import __version__

# What `bondlab --help` tells a user (the module docstring above is for whoever works on the CLI).
ABOUT = """\
bondlab is the failover lab of the bond CNI plugin: it deploys pods with bonds over emulated SR-IOV
VFs on a real kernel, breaks links under traffic as a scenario says, and reports how each bond failed over.

start here:
  bondlab doctor
      what this machine can do for the lab, and how to fix each gap
  bondlab run scenarios/modes/active-backup.yaml
      one scenario: deploy its lab, cut a VF under traffic, judge, report (results/scenarios/index.html);
      a folder (scenarios/) runs every file in it
  bondlab deploy scenarios/lib/seeds/000-sriov-bond-fixed.yaml
      a lab to try things by hand: then `bondlab inspect`, `cut`, `watch`, `destroy`
  bondlab conformance
      the CNI protocol cases against the plugin (bin/bond)
  bondlab lint NAD.yaml
      a bond config checked without a kernel: the plugin's errors and known pitfalls
  bondlab VERB --help
      a verb's options

docs: README.md (the project, setting up, the lab), scenarios/README.md (writing a scenario: every step
and expectation; the library of scenarios)"""


def _grouped(sub, groups: list) -> str:
    """The verbs by group, each with its own help (declared once, where the verb is)."""
    helps = {action.dest: action.help or "" for action in sub._choices_actions}
    width = max(shutil.get_terminal_size().columns - 2, 60)  # as argparse's own formatter
    lines = []
    for title, names in groups:
        lines.append(f"{title}:")
        for name in names:
            text = textwrap.wrap(helps[name], width - 16) or [""]
            lines += [f"  {name:<14}{text[0]}"] + [" " * 16 + more for more in text[1:]]
        lines.append("")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from bondlab.cli import actions, bench, conformance, lab, lint, run, tools, vm

    parser = argparse.ArgumentParser(
        prog="bondlab",
        usage="bondlab [-h] [--version] VERB ...",
        description=ABOUT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bondlab {__version__}")
    # the verbs are listed by group in the epilog; their usage lines start `bondlab VERB`
    sub = parser.add_subparsers(
        dest="verb", required=True, metavar="VERB", help=argparse.SUPPRESS, prog="bondlab"
    )
    common = lab.common_options()
    groups = []
    for title, adders in (
        ("verbs: this machine and the lab VM", (vm.add_verbs,)),
        ("scenarios, conformance cases, configs", (run.add_verbs, conformance.add_verbs, lint.add_verbs)),
        ("a lab by hand: up, look, down", (lambda s: lab.add_verbs(s, common),)),
        (
            "on the deployed lab: scenario actions, tools",
            (lambda s: actions.add_verbs(s, common), lambda s: tools.add_verbs(s, common)),
        ),
        ("figures", (bench.add_verbs,)),
    ):
        before = set(sub.choices)
        for add in adders:
            add(sub)
        groups.append((title, [name for name in sub.choices if name not in before]))
    parser.epilog = _grouped(sub, groups)
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
