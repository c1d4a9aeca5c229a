"""`bondlab lint FILE...`: the plugin's parser and the lab's pitfalls on NAD/Pod/DaemonSet YAML or a bare
CNI JSON config; runs on the host (no kernel, no lab VM)."""

from __future__ import annotations

import argparse
import sys


def _lint(args: argparse.Namespace) -> int:
    from bondlab.lint import inputs, placement, registry, report, rules  # noqa: F401 (the rules register)
    from bondlab.model.yamlsrc import SourceError

    try:
        loaded = inputs.load(args.files)
    except SourceError as error:
        print(f"bondlab lint: {error}", file=sys.stderr)
        return report.EXIT_UNREADABLE
    findings = registry.run(loaded)
    print(report.render(findings, args.format))
    return report.exit_code(findings)


def add_verbs(sub) -> None:
    lint = sub.add_parser(
        "lint",
        help="check bond configs: the plugin's parser and known pitfalls (exit 1 on an error finding)",
    )
    lint.add_argument("files", nargs="+", metavar="FILE", help="NAD/Pod/DaemonSet YAML or a CNI JSON config")
    lint.add_argument("--format", choices=("table", "json"), default="table")
    lint.set_defaults(func=_lint)
