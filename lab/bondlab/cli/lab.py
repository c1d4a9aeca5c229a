"""The lab's containerlab-like verbs on `bondlab`: deploy FILE..., inspect, graph, exec POD -- CMD, destroy,
clean.

When this kernel cannot bond, each verb re-runs itself (`python -m bondlab VERB ...`) in the lab VM that
stays up (`bondlab vm up`; `deploy` starts it if none is up), because the lab's namespaces live there
between commands. Inside the VM, or on a kernel that can bond, they run in place.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager


def _forward(args: argparse.Namespace) -> int:
    """Run the same verb in the lab VM that stays up, where the lab's namespaces live; deploy and bench
    start it when none is up."""
    from bondlab.cli.forward import bondlab_job, forward
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
    return forward(bondlab_job(args.argv), session=args.vm_name)


def _error(error: Exception) -> int:
    print(f"bondlab: {error}", file=sys.stderr)
    return 1


class _Outcome:
    code = 0


@contextmanager
def lab_errors():
    """A lab verb's expected failures (no such lab or pod, bad arguments, a command that failed) as one
    line on stderr and exit code 1 (`outcome.code`), never a traceback."""
    from bondlab.model.yamlsrc import SourceError
    from bondlab.world.labstate import LabError
    from bondlab.world.netns import CommandError

    outcome = _Outcome()
    try:
        yield outcome
    except (LabError, SourceError, CommandError) as error:
        outcome.code = _error(error)


def _deploy(args: argparse.Namespace) -> int:
    from bondlab import deploy
    from bondlab.model import yamlsrc
    from bondlab.model.yamlsrc import SourceError
    from bondlab.world.labstate import LabError

    def progress(text: str) -> None:
        print(f"  {text}", file=sys.stderr, flush=True)

    try:
        prepared = deploy.prepare(yamlsrc.load_files(args.files), backend=args.backend)
        for ignored in prepared.objects.ignored:
            progress(f"ignored (not a kind the lab runs): {ignored}")
        state = deploy.deploy(
            prepared, name=args.name, plugin=args.plugin, progress=progress, pods_backend=args.pods
        )
    except (LabError, SourceError) as error:
        return _error(error)
    from bondlab.world import inspection

    print(inspection.render(state))
    return 0


def _load(args):
    from bondlab.world.labstate import LabState

    return LabState.load(args.name)


def _inspect(args: argparse.Namespace) -> int:
    import json

    from bondlab.world import inspection

    with lab_errors() as failed:
        state = _load(args)
        got = inspection.collect(state)
        print(json.dumps(got, indent=1) if args.format == "json" else inspection.render(state, got))
        return 0
    return failed.code


def _graph(args: argparse.Namespace) -> int:
    from bondlab.world import graph, inspection

    with lab_errors() as failed:
        try:
            sys.stdout.write(graph.FORMATS[args.format](inspection.collect(_load(args))))
        except graph.GraphError as error:
            return _error(error)
        return 0
    return failed.code


def _pod_argv(state, pod, command: list, tty: bool) -> list:
    """The command line that runs `command` in a pod: in its netns, or in its container (docker's CLI on
    the lab's engine, for a terminal)."""
    if pod.container:
        return [
            "docker",
            "-H",
            state.docker.url,
            "exec",
            *(["-it"] if tty else []),
            pod.container,
            *command,
        ]
    return ["ip", "netns", "exec", pod.netns, *command]


def _exec(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise SystemExit("bondlab exec: give a command after --, e.g. bondlab exec test-pod -- ip a")
    with lab_errors() as failed:
        state = _load(args)
        pod = state.pod(args.pod)
        if args.relay:  # in the lab VM, for `exec -it` on the host: a terminal of its own (vm.tty)
            from bondlab.vm import tty

            return tty.relay(args.relay, _pod_argv(state, pod, command, True), args.rows, args.cols)
        if pod.container and not args.tty:  # its mounts, its /sys; output as it was, via the API
            from bondlab.world import pods

            return pods.container_exec(state, pod, command)
        argv = _pod_argv(state, pod, command, args.tty)
        os.execvp(argv[0], argv)  # this process's terminal, if it has one, is the command's
    return failed.code


def _exec_verb(args: argparse.Namespace) -> int:
    """`exec` in place, or in the lab VM that stays up; `-t` there relays a terminal (vm.tty)."""
    from bondlab.cli.forward import bondlab_job, in_place

    if in_place() or not args.tty:
        return wrap(_exec)(args)
    import secrets
    import shutil

    from bondlab.vm import tty
    from bondlab.vm.session import LabVm

    running = LabVm(args.vm_name)
    if not running.is_up():
        return _forward(args)  # says that no lab is deployed
    directory = running.ctl / f"tty-{secrets.token_hex(4)}"
    rows, cols = tty.terminal_size()
    relay = ["--relay", str(directory), "--rows", str(rows), "--cols", str(cols)]
    try:
        with tty.Keyboard(directory):
            return running.exec(bondlab_job([args.argv[0], *relay, *args.argv[1:]]))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _destroy(args: argparse.Namespace) -> int:
    from bondlab import deploy
    from bondlab.world.labstate import LabError, LabState, list_labs

    try:
        names = list_labs() if args.all else [_load(args).name]
    except LabError as error:
        return _error(error)
    failed = 0
    for name in names:
        errors = deploy.destroy(LabState.load(name))
        print(f"lab {name}: destroyed" + (f" with {len(errors)} error(s)" if errors else ""))
        failed += bool(errors)
    return 1 if failed else 0


def _clean(args: argparse.Namespace) -> int:
    from bondlab.world import clean

    found = clean.clean(args.id)
    print(
        f"removed {len(found['netns'])} netns, {len(found['links'])} link(s), "
        f"{len(found.get('records', []))} lab record(s) carrying the bondlab mark, "
        f"{found.get('containers', 0)} container(s) labelled as the lab's"
        + (", stopped the lab's docker engine" if found.get("engine_stopped") else "")
        + (f", stopped {len(found['processes'])} LACP partner(s)" if found.get("processes") else "")
    )
    return 0


def wrap(func):
    """The verb in place on a kernel that can bond, else in the lab VM that stays up."""

    def run(args: argparse.Namespace) -> int:
        from bondlab.cli.forward import in_place

        return func(args) if in_place() else _forward(args)

    return run


def common_options() -> argparse.ArgumentParser:
    """The options every verb on a deployed lab takes (a parent parser)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--name", default=None, help="which lab (default: the only one deployed)")
    common.add_argument("--vm-name", default="default", help="the lab VM to use when this kernel cannot bond")
    return common


def add_verbs(sub, common) -> None:
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
    deploy.set_defaults(func=wrap(_deploy))
    inspectp = sub.add_parser(
        "inspect",
        parents=[common],
        help="the lab now: nodes, PFs, VFs, switch ports, pods and their netns, bonds, slaves, peers",
    )
    inspectp.add_argument("--format", default="table", choices=("table", "json"))
    inspectp.set_defaults(func=wrap(_inspect))
    graphp = sub.add_parser(
        "graph", parents=[common], help="a picture of the lab: nodes, PFs, VFs, switches, pods, bonds, peers"
    )
    graphp.add_argument(
        "--format", default="mermaid", choices=("mermaid", "dot", "svg"), help="svg needs graphviz's dot"
    )
    graphp.set_defaults(func=wrap(_graph))
    execp = sub.add_parser(
        "exec", parents=[common], help="run a command in a pod (netns or container): exec [-it] POD -- CMD"
    )
    execp.add_argument("-i", "--interactive", action="store_true", help="keep stdin open (with -t)")
    execp.add_argument("-t", "--tty", action="store_true", help="a terminal: `exec -it POD -- sh`")
    execp.add_argument("--relay", help=argparse.SUPPRESS)
    execp.add_argument("--rows", type=int, default=24, help=argparse.SUPPRESS)
    execp.add_argument("--cols", type=int, default=80, help=argparse.SUPPRESS)
    execp.add_argument("pod")
    execp.add_argument("command", nargs=argparse.REMAINDER)
    execp.set_defaults(func=_exec_verb)
    destroy = sub.add_parser(
        "destroy", parents=[common], help="DEL every pod (reverse order), remove the world"
    )
    destroy.add_argument("--all", action="store_true", help="every deployed lab")
    destroy.set_defaults(func=wrap(_destroy))
    cleanp = sub.add_parser("clean", parents=[common], help="remove leftovers of any lab, found by mark only")
    cleanp.add_argument("--id", default=None, help="only the lab with this id")
    cleanp.set_defaults(func=wrap(_clean))
