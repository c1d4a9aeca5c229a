"""The lab's containerlab-like verbs on `bondlab`: deploy FILE..., inspect, exec POD -- CMD, destroy, clean.

When this kernel cannot bond, each verb re-runs itself (`python -m bondlab VERB ...`) in the lab VM that
stays up (`bondlab vm up`; `deploy` starts it if none is up), because the lab's namespaces live there
between commands. Inside the VM, or on a kernel that can bond, they run in place.
"""

from __future__ import annotations

import argparse
import os
import sys


def _in_place() -> bool:
    if os.environ.get("BONDLAB_IN_GUEST"):
        return True
    from bondlab import capabilities

    return bool(capabilities.probe().native)


def _forward(args: argparse.Namespace) -> int:
    """Run the same verb in the lab VM; deploy boots it when none is up."""
    from bondlab import vm
    from bondlab.vm.session import LabVm

    running = LabVm(args.vm_name)
    if not running.is_up():
        if args.verb not in ("deploy", "bench"):
            print(f"bondlab {args.verb}: no lab VM is up, so no lab is deployed", file=sys.stderr)
            return 0 if args.verb in ("destroy", "clean") else 1
        print(
            f"bondlab: this kernel cannot bond; starting lab VM {args.vm_name!r} "
            "(`bondlab vm down` stops it)",
            file=sys.stderr,
        )
        running.up()
    return running.exec(vm.Job(argv=[sys.executable, "-m", "bondlab", *args.argv]))


def _error(error: Exception) -> int:
    print(f"bondlab: {error}", file=sys.stderr)
    return 1


def _deploy(args: argparse.Namespace) -> int:
    from bondlab import deploy
    from bondlab.labstate import LabError
    from bondlab.yamlsrc import SourceError

    def progress(text: str) -> None:
        print(f"  {text}", file=sys.stderr, flush=True)

    try:
        prepared = deploy.prepare(args.files, backend=args.backend)
        for ignored in prepared.objects.ignored:
            progress(f"ignored (not a kind the lab runs): {ignored}")
        state = deploy.deploy(
            prepared, name=args.name, plugin=args.plugin, progress=progress, pods_backend=args.pods
        )
    except (LabError, SourceError) as error:
        return _error(error)
    from bondlab import inspect

    print(inspect.render(state))
    return 0


def _load(args):
    from bondlab.labstate import LabState

    return LabState.load(args.name)


def _inspect(args: argparse.Namespace) -> int:
    from bondlab import inspect
    from bondlab.labstate import LabError

    try:
        print(inspect.render(_load(args)))
    except LabError as error:
        return _error(error)
    return 0


def _exec(args: argparse.Namespace) -> int:
    from bondlab import multus
    from bondlab.labstate import LabError

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise SystemExit("bondlab exec: give a command after --, e.g. bondlab exec test-pod -- ip a")
    try:
        pod = multus.find_pod(_load(args), args.pod)
    except LabError as error:
        return _error(error)
    if pod.get("container"):  # a docker pod: run it in the container (its mounts, its /sys), via the API
        from bondlab import pods

        return pods.container_exec(_load(args), pod, command)
    os.execvp("ip", ["ip", "netns", "exec", pod["netns"], *command])
    return 127


def _destroy(args: argparse.Namespace) -> int:
    from bondlab import deploy
    from bondlab.labstate import LabError, LabState, list_labs

    try:
        names = list_labs() if args.all else [_load(args).data["name"]]
    except LabError as error:
        return _error(error)
    failed = 0
    for name in names:
        errors = deploy.destroy(LabState.load(name))
        print(f"lab {name}: destroyed" + (f" with {len(errors)} error(s)" if errors else ""))
        failed += bool(errors)
    return 1 if failed else 0


def _clean(args: argparse.Namespace) -> int:
    from bondlab import clean

    found = clean.clean(args.id)
    print(
        f"removed {len(found['netns'])} netns, {len(found['links'])} link(s), "
        f"{len(found.get('records', []))} lab record(s) carrying the bondlab mark, "
        f"{found.get('containers', 0)} container(s) labelled as the lab's"
        + (", stopped the lab's docker engine" if found.get("engine_stopped") else "")
    )
    return 0


def _wrap(func):
    def run(args: argparse.Namespace) -> int:
        return func(args) if _in_place() else _forward(args)

    return run


def add_verbs(sub) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--name", default=None, help="which lab (default: the only one deployed)")
    common.add_argument("--vm-name", default="default", help="the lab VM to use when this kernel cannot bond")
    deploy = sub.add_parser(
        "deploy", parents=[common], help="deploy a lab from topology and Kubernetes YAML files"
    )
    deploy.add_argument("files", nargs="+", metavar="FILE")
    deploy.add_argument("--plugin", default=None, help="bond CNI binary under test (default: bin/bond)")
    deploy.add_argument(
        "--backend",
        default="veth",
        choices=("veth", "netdevsim"),
        help="VF backend of a derived topology (default veth)",
    )
    deploy.add_argument(
        "--pods",
        default=None,
        choices=("netns", "docker"),
        help="pod backend: netns, or docker (containers of a Docker engine); default: the topology's "
        "spec.pods, else $BONDLAB_PODS, else netns",
    )
    deploy.set_defaults(func=_wrap(_deploy))
    sub.add_parser(
        "inspect", parents=[common], help="table of nodes, PFs, VFs, owner pods, bonds, carrier"
    ).set_defaults(func=_wrap(_inspect))
    execp = sub.add_parser("exec", parents=[common], help="run a command in a pod's netns: exec POD -- CMD")
    execp.add_argument("pod")
    execp.add_argument("command", nargs=argparse.REMAINDER)
    execp.set_defaults(func=_wrap(_exec))
    destroy = sub.add_parser(
        "destroy", parents=[common], help="DEL every pod (reverse order), remove the world"
    )
    destroy.add_argument("--all", action="store_true", help="every deployed lab")
    destroy.set_defaults(func=_wrap(_destroy))
    cleanp = sub.add_parser("clean", parents=[common], help="remove leftovers of any lab, found by mark only")
    cleanp.add_argument("--id", default=None, help="only the lab with this id")
    cleanp.set_defaults(func=_wrap(_clean))


def _bench_lab(args: argparse.Namespace) -> int:
    from bondlab import labbench

    counts = [int(c) for c in args.pods.split(",")]
    return labbench.bench(counts, backend=args.backend, plugin=args.plugin)


def add_bench(bsub) -> None:
    bench = bsub.add_parser("lab", help="deploy/destroy time per pod (bond over VFs of two PFs) for N pods")
    bench.add_argument("--pods", default="10,50,200", help="comma-separated pod counts (default 10,50,200)")
    bench.add_argument("--backend", default="veth", choices=("veth", "netdevsim"))
    bench.add_argument("--plugin", default=None, help="bond CNI binary under test (default: bin/bond)")
    bench.add_argument("--vm-name", default="default", help="the lab VM to use when this kernel cannot bond")
    bench.set_defaults(func=_wrap(_bench_lab))
    from bondlab import dockerbench

    dockerbench.add_bench(bsub, _wrap)
