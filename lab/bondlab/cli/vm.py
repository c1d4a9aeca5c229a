"""`bondlab vm ...` (run a command on a kernel that can bond; a lab VM that stays up), `bondlab kernel ...`
(the lab's user-mode-linux kernel) and `bondlab doctor` (what this machine can do for the lab)."""

from __future__ import annotations

import argparse
import sys

VM_VERBS = ("run", "up", "exec", "down", "status")


def _command(args: argparse.Namespace) -> list:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise SystemExit(f"bondlab {args.verb}: give a command after --, e.g. bondlab vm -- ip -br link")
    return command


def _vm_run(args: argparse.Namespace) -> int:
    """`vm -- CMD`: in the lab VM that is up, if any, else on the engine chosen now (one boot)."""
    from bondlab import vm
    from bondlab.cli.forward import forward

    return forward(vm.Job(argv=_command(args), timeout=args.timeout, rw_dirs=args.rw), args.engine, args.name)


def _vm_up(args: argparse.Namespace) -> int:
    from bondlab.vm.session import LabVm

    seconds = LabVm(args.name).up(rw_dirs=args.rw)
    print(f"lab VM {args.name!r} is up (agent answered after {seconds:.2f} s); `bondlab vm down` stops it")
    return 0


def _vm_exec(args: argparse.Namespace) -> int:
    from bondlab import vm
    from bondlab.vm.session import LabVm

    return LabVm(args.name).exec(vm.Job(argv=_command(args), timeout=args.timeout))


def _vm_down(args: argparse.Namespace) -> int:
    from bondlab.vm.session import LabVm

    stopped = LabVm(args.name).down()
    print(f"lab VM {args.name!r} " + ("stopped" if stopped else "was not up"))
    return 0


def _vm_status(args: argparse.Namespace) -> int:
    from bondlab.vm.session import LabVm

    running = LabVm(args.name)
    pid = running.pid()
    print(
        f"lab VM {args.name!r}: " + (f"up, pid {pid}, state in {running.root}" if running.is_up() else "down")
    )
    return 0 if pid else 3


def _kernel_build(args: argparse.Namespace) -> int:
    from bondlab.vm import kernels

    built = kernels.build(series=args.series, jobs=args.jobs, force=args.force)
    print(built.path)
    return 0


def _kernel_fetch(args: argparse.Namespace) -> int:
    from bondlab.vm import catalog, kernels

    if args.package:
        print(kernels.fetch_distribution_kernel(args.package))
        return 0
    for name in args.names or ["debian-6.1"]:
        named = catalog.get(name)
        if named.engine != "qemu":
            print(
                f"bondlab kernel fetch: {name} is not a Debian image (see `bondlab kernel list`)",
                file=sys.stderr,
            )
            return 2
        print(kernels.fetch_distribution_kernel(named.package))
    return 0


def _kernel_list(args: argparse.Namespace) -> int:
    from bondlab.vm import kernel_list

    print(kernel_list.render())
    return 0


def _kernel_show(args: argparse.Namespace) -> int:
    from bondlab.vm import kernels

    print(kernels.find_kernel().describe())
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


def add_verbs(sub) -> None:
    vm = sub.add_parser(
        "vm",
        help="run a command as root on a kernel that can bond (host or lab VM); up/exec/down/status",
        description="`bondlab vm [OPTIONS] -- CMD` runs CMD once (in the lab VM that is up, if any); "
        "`bondlab vm up|exec|down|status` manage a lab VM that stays up between commands.",
    )
    vmsub = vm.add_subparsers(dest="vm_verb", required=True)
    named = argparse.ArgumentParser(add_help=False)
    named.add_argument("--name", default="default", help="which persistent lab VM (default: default)")
    timed = argparse.ArgumentParser(add_help=False)
    timed.add_argument("--timeout", type=float, default=None, help="kill the job after this many seconds")
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument(
        "--rw",
        action="append",
        default=[],
        metavar="DIR",
        help="host directory the guest may write to (repeatable)",
    )
    command = argparse.ArgumentParser(add_help=False)
    command.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARG...]")
    run = vmsub.add_parser(
        "run", parents=[named, timed, shared, command], help="run one command (the default)"
    )
    run.add_argument("--engine", help="auto (default), host or uml; also BONDLAB_ENGINE")
    run.set_defaults(func=_vm_run)
    vmsub.add_parser("up", parents=[named, shared], help="start a lab VM in the background").set_defaults(
        func=_vm_up
    )
    vmsub.add_parser(
        "exec", parents=[named, timed, command], help="run a command in the lab VM that is up"
    ).set_defaults(func=_vm_exec)
    vmsub.add_parser("down", parents=[named], help="stop the lab VM").set_defaults(func=_vm_down)
    vmsub.add_parser("status", parents=[named], help="is the lab VM up?").set_defaults(func=_vm_status)

    kern = sub.add_parser(
        "kernel", help="the kernels the lab runs on: list, build (the lab's), fetch (Debian's)"
    )
    ksub = kern.add_subparsers(dest="kernel_verb", required=True)
    kbuild = ksub.add_parser("build", help="build (or reuse from cache) the lab kernel")
    kbuild.add_argument("--series", default="6.12", help="linux-source series to build from (default 6.12)")
    kbuild.add_argument("--jobs", type=int, default=None)
    kbuild.add_argument("--force", action="store_true", help="rebuild even if a cached kernel exists")
    kbuild.set_defaults(func=_kernel_build)
    kfetch = ksub.add_parser(
        "fetch",
        help="unpack Debian kernel images into the cache for the qemu engine (nothing is installed)",
        description="Fetch the named Debian kernels of `bondlab kernel list` (default debian-6.1), or any "
        "Debian kernel package with --package. A newer image than the cached one is fetched when apt "
        "offers it.",
    )
    kfetch.add_argument("names", nargs="*", metavar="NAME", help="debian-6.1, debian-6.12, debian-6.12-rt")
    kfetch.add_argument(
        "--package", default="", help="a Debian package, e.g. linux-image-amd64/bookworm-backports"
    )
    kfetch.set_defaults(func=_kernel_fetch)
    klist = ksub.add_parser(
        "list",
        help="the kernels `--kernel` can name: what each is, whether it can run here, what a run costs",
    )
    klist.set_defaults(func=_kernel_list)
    kshow = ksub.add_parser("show", help="which kernel the uml engine boots")
    kshow.set_defaults(func=_kernel_show)

    doc = sub.add_parser("doctor", help="what this machine can do for the lab, and how to fix each gap")
    doc.add_argument(
        "--fix", action="store_true", help="install missing Debian packages (root), build the lab kernel"
    )
    doc.add_argument("--no-kernel", action="store_true", help="with --fix: do not build the lab kernel")
    doc.set_defaults(func=_doctor)


def route(argv: list) -> list:
    """`bondlab vm [OPTIONS] -- CMD` is short for `bondlab vm run [OPTIONS] -- CMD`."""
    if argv[:1] == ["vm"] and (len(argv) < 2 or argv[1] not in (*VM_VERBS, "-h", "--help")):
        return ["vm", "run", *argv[1:]]
    return argv
