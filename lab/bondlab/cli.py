"""The `bondlab` command line."""

from __future__ import annotations

import argparse
import sys

from bondlab import __version__


def _vm_run(args: argparse.Namespace) -> int:
    from bondlab import vm

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise SystemExit("bondlab vm: give a command after --, e.g. bondlab vm -- ip -br link")
    engine = vm.select(args.engine)
    return engine.run(vm.Job(argv=command, timeout=args.timeout, rw_dirs=args.rw))


def _kernel_build(args: argparse.Namespace) -> int:
    from bondlab import kernel

    built = kernel.build(series=args.series, jobs=args.jobs, force=args.force)
    print(built.path)
    return 0


def _kernel_show(args: argparse.Namespace) -> int:
    from bondlab import kernel

    print(kernel.find_kernel().describe())
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from bondlab import doctor

    if args.fix:
        code = doctor.fix(build_kernel=not args.no_kernel)
        if code:
            return code
    findings = doctor.examine()
    doctor.report(findings)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bondlab", description=__doc__)
    parser.add_argument("--version", action="version", version=f"bondlab {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True)

    vm = sub.add_parser("vm", help="run a command as root on a kernel that can bond (host or lab VM)")
    vm.add_argument("--engine", help="auto (default), host or uml; also BONDLAB_ENGINE")
    vm.add_argument("--timeout", type=float, default=None, help="kill the job after this many seconds")
    vm.add_argument(
        "--rw",
        action="append",
        default=[],
        metavar="DIR",
        help="host directory the job may write to (repeatable)",
    )
    vm.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARG...]")
    vm.set_defaults(func=_vm_run)

    kern = sub.add_parser("kernel", help="the lab's user-mode-linux kernel")
    ksub = kern.add_subparsers(dest="kernel_verb", required=True)
    kbuild = ksub.add_parser("build", help="build (or reuse from cache) the lab kernel")
    kbuild.add_argument("--series", default="6.12", help="linux-source series to build from (default 6.12)")
    kbuild.add_argument("--jobs", type=int, default=None)
    kbuild.add_argument("--force", action="store_true", help="rebuild even if a cached kernel exists")
    kbuild.set_defaults(func=_kernel_build)
    kshow = ksub.add_parser("show", help="which kernel the uml engine boots")
    kshow.set_defaults(func=_kernel_show)
    doc = sub.add_parser("doctor", help="what this machine can do for the lab, and how to fix each gap")
    doc.add_argument(
        "--fix", action="store_true", help="install missing Debian packages (root), build the lab kernel"
    )
    doc.add_argument("--no-kernel", action="store_true", help="with --fix: do not build the lab kernel")
    doc.set_defaults(func=_doctor)
    return parser


def main(argv=None) -> int:
    from bondlab.kernel import KernelError
    from bondlab.vm.engine import EXIT_VM_ERROR, Interrupted, VmError

    args = build_parser().parse_args(argv)
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
