"""`bondlab bench vm|lab|probe|docker`: benchmarks that print figures (the lab VM, lab pods, the probe
helper's send schedule, docker pods)."""

from __future__ import annotations

import argparse


def _bench_vm(args: argparse.Namespace) -> int:
    from bondlab.bench import vm

    return vm.bench_vm(repeat=args.repeat)


def _bench_lab(args: argparse.Namespace) -> int:
    from bondlab.bench import lab

    counts = [int(c) for c in args.pods.split(",")]
    nodes = tuple(int(k) for k in args.nodes.split(","))
    return lab.bench(counts, backend=args.backend, plugin=args.plugin, nodes=nodes)


def _bench_docker(args: argparse.Namespace) -> int:
    from bondlab.bench import docker

    return docker.bench(args.pods)


def _bench_probe(args: argparse.Namespace) -> int:
    from bondlab.bench import probe

    return probe.bench(rate=args.rate, seconds=args.seconds)


def add_verbs(sub) -> None:
    from bondlab.cli.lab import wrap

    bench = sub.add_parser("bench", help="benchmarks that print figures")
    bsub = bench.add_subparsers(dest="bench_verb", required=True)
    bvm = bsub.add_parser("vm", help="lab VM costs: boot, trivial command, python start, import pyroute2")
    bvm.add_argument("--repeat", type=int, default=10)
    bvm.set_defaults(func=_bench_vm)
    blab = bsub.add_parser(
        "lab", help="deploy/destroy time per pod and node (bond over VFs of two PFs) for N pods on K nodes"
    )
    blab.add_argument("--pods", default="10,50,200", help="comma-separated pod counts (default 10,50,200)")
    blab.add_argument(
        "--nodes", default="1", help="comma-separated node counts; the pods are spread over the nodes in turn"
    )
    blab.add_argument("--backend", default="veth", choices=("veth", "netdevsim"))
    blab.add_argument("--plugin", default=None, help="bond CNI binary under test (default: bin/bond)")
    blab.add_argument("--vm-name", default="default", help="the lab VM to use when this kernel cannot bond")
    blab.set_defaults(func=wrap(_bench_lab))
    bprobe = bsub.add_parser(
        "probe",
        help="probe helper send schedule per flow shape (kernel UDP, templates, sessions, MACs, VLAN)",
    )
    bprobe.add_argument("--rate", type=int, default=1000, help="probes per second of the flow (default 1000)")
    bprobe.add_argument("--seconds", type=float, default=3.0, help="sending time per shape (default 3)")
    bprobe.add_argument("--vm-name", default="default", help="the lab VM to use when this kernel cannot bond")
    bprobe.set_defaults(func=wrap(_bench_probe))
    bdocker = bsub.add_parser(
        "docker", help="docker pod backend: engine start, image import, per-pod overhead"
    )
    bdocker.add_argument("--pods", type=int, default=10, help="pods per deploy (default 10)")
    bdocker.add_argument(
        "--vm-name", default="default", help="the lab VM to use when this kernel cannot bond"
    )
    bdocker.set_defaults(func=wrap(_bench_docker))
