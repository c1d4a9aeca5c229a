"""`bondlab save DIR` (a support bundle, world.bundle), `bondlab capture POD/IFACE|PORT [-w FILE] [FILTER]`
(tcpdump in the netns the link is in: a pod's, or the fabric's for a switch port) and `bondlab concheck`
(every pod to every pod and peer, with bandwidths: bondlab.concheck).

In the lab VM that stays up, a job's output comes back as text, and only directories shared at `vm up` are
writable: what must land in a host file (the bundle, a pcap) travels as base64 lines between two markers
(`--b64`), which the host side decodes as they arrive, so a capture is written live (`-w -` into Wireshark).
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import subprocess
import sys

BEGIN, END = "-----BEGIN BONDLAB DATA-----", "-----END BONDLAB DATA-----"
LINE = 57  # bytes per base64 line (76 characters, decodable on its own)
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)")


def emit(chunk: bytes, out=None) -> None:
    """Binary data as base64 lines (call between BEGIN and END)."""
    out = out or sys.stdout
    for at in range(0, len(chunk), LINE):
        out.write(base64.b64encode(chunk[at : at + LINE]).decode() + "\n")
    out.flush()


class Base64Sink:
    """A text stream (a lab VM job's `out`) that writes the data between the markers to `binary` as it
    comes, and passes every other line to `text`."""

    def __init__(self, binary, text=None) -> None:
        self.binary, self.text, self.pending, self.inside = binary, text or sys.stderr, "", False

    def write(self, data: str) -> None:
        self.pending += data
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if line == BEGIN:
                self.inside = True
            elif line == END:
                self.inside = False
            elif self.inside and _BASE64.fullmatch(line):
                self.binary.write(base64.b64decode(line))
            else:  # a line a process in the job printed (a warning): text
                self.text.write(line + "\n")

    def flush(self) -> None:
        self.binary.flush()
        self.text.flush()


def _through_vm(args: argparse.Namespace, binary) -> int:
    """Run this verb in the lab VM that stays up with `--b64`; the data it sends goes to `binary`."""
    from bondlab.cli.forward import bondlab_job
    from bondlab.vm.session import LabVm

    running = LabVm(args.vm_name)
    if not running.is_up():
        print(f"bondlab {args.verb}: no lab VM is up, so no lab is deployed", file=sys.stderr)
        return 1
    sink = Base64Sink(binary)
    try:
        return running.exec(bondlab_job([*args.argv, "--b64"], out=sink))
    finally:
        sink.flush()


def _save(args: argparse.Namespace) -> int:
    from bondlab.cli.forward import in_place
    from bondlab.cli.lab import lab_errors
    from bondlab.report import bundle

    if not in_place() and not args.b64:
        import io

        received = io.BytesIO()
        code = _through_vm(args, received)
        if code == 0:
            bundle.write_dir(bundle.from_tar(received.getvalue()), args.dir)
            print(f"support bundle in {args.dir}/")
        return code
    from bondlab.world.labstate import LabState

    with lab_errors() as failed:
        files = bundle.gather(LabState.load(args.name))
        if args.b64:
            print(BEGIN)
            emit(bundle.to_tar(files))
            print(END, flush=True)
        else:
            bundle.write_dir(files, args.dir)
            print(f"support bundle in {args.dir}/: {len(files)} files")
        return 0
    return failed.code


def capture_argv(state, target: str, args: argparse.Namespace) -> list:
    """The tcpdump command line for POD/IFACE (in the pod's netns) or a fabric switch PORT."""
    from bondlab.run.names import Names

    names = Names(state)
    if "/" in target:
        pod, iface = names.split(target)
        netns = pod.netns
    else:
        netns, iface = state.netns_name("fabric"), target
    words = ["tcpdump", "-n", "-i", iface, "-U"]
    words += ["-w", "-"] if args.write else ["-l", "-e"]
    if args.count:
        words += ["-c", str(args.count)]
    command = ["ip", "netns", "exec", netns, *words, *args.filter]
    return (
        ["timeout", "--foreground", "-s", "INT", f"{args.duration:g}", *command] if args.duration else command
    )


def _capture(args: argparse.Namespace) -> int:
    from bondlab.cli.forward import in_place
    from bondlab.cli.lab import lab_errors
    from bondlab.world.labstate import LabState

    if not in_place() and not args.b64:
        if not args.write:  # text: the usual forward, streamed as it comes
            from bondlab.cli.lab import wrap

            return wrap(_capture)(args)
        with _open_pcap(args.write) as binary:
            return _through_vm(args, binary)
    with lab_errors() as failed:
        argv = capture_argv(LabState.load(args.name), args.target, args)
        if not args.write:
            os.execvp(argv[0], argv)
        if not args.b64:
            with _open_pcap(args.write) as binary:
                return _pipe(argv, binary.write, binary.flush, sys.stderr)[0]
        print(BEGIN, flush=True)
        # tcpdump's own words come after the data: in the lab VM they would land amid its lines
        code, said = _pipe(argv, emit, lambda: None, subprocess.PIPE)
        print(END, flush=True)
        if said:
            print(said.rstrip(), file=sys.stderr)
        return code
    return failed.code


def _open_pcap(path: str):
    return os.fdopen(os.dup(sys.stdout.fileno()), "wb") if path == "-" else open(path, "wb")


def _pipe(argv: list, write, flush, stderr) -> tuple:
    """Run tcpdump writing its pcap to a pipe; hand each chunk to `write` as it comes. Its stderr goes to
    `stderr`, or (subprocess.PIPE) is returned: (exit code, what it said)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr)
    try:
        while True:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            write(chunk)
            flush()
    finally:
        said = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        code = proc.wait()
    return (0 if code in (0, 124) else code), said  # 124: --duration ended it


def _capture_options(parser) -> argparse.ArgumentParser:
    parser.add_argument("--b64", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "-w", dest="write", metavar="FILE", help="write a pcap (-: stdout, e.g. | wireshark -k -i -)"
    )
    parser.add_argument("-c", "--count", type=int, default=0, help="stop after this many packets")
    parser.add_argument("--duration", type=float, default=0, help="stop after this many seconds")
    return parser


def _reparse(args: argparse.Namespace) -> argparse.Namespace:
    """The options written after the target (`capture test-pod/net1 -w x.pcap icmp`): argparse cannot mix
    them with a positional FILTER, so the words after the target are read again here."""
    args, words = args.after_target.parse_known_args(args.filter, namespace=args)
    args.filter = words
    return args


def _concheck(args: argparse.Namespace) -> int:
    import json

    from bondlab import concheck
    from bondlab.cli.lab import lab_errors
    from bondlab.world.labstate import LabState

    with lab_errors() as failed:
        state = LabState.load(args.name)
        bandwidth = not args.no_bandwidth
        got = concheck.to_json(concheck.check(state, bandwidth, args.duration, args.streams))
        print(json.dumps(got, indent=1) if args.format == "json" else concheck.render(got))
        return 0
    return failed.code


def add_verbs(sub, common) -> None:
    hidden = argparse.ArgumentParser(add_help=False)
    hidden.add_argument("--b64", action="store_true", help=argparse.SUPPRESS)
    save = sub.add_parser(
        "save",
        parents=[common, hidden],
        help="a support bundle: inspect JSON, ip -d -j of every lab netns, /proc/net/bonding, plugin files",
    )
    save.add_argument("dir", metavar="DIR")
    save.set_defaults(func=_save)
    cap = sub.add_parser(
        "capture",
        parents=[common],
        help="tcpdump on a pod's link (POD/IFACE) or a switch port (PORT), live or into a pcap (-w FILE)",
    )
    _capture_options(cap)
    cap.add_argument("target", metavar="POD/IFACE|PORT")
    cap.add_argument("filter", nargs=argparse.REMAINDER, metavar="FILTER", help="a tcpdump filter, e.g. arp")
    again = _capture_options(argparse.ArgumentParser(add_help=False, parents=[common]))
    cap.set_defaults(func=lambda args: _capture(_reparse(args)), after_target=again)
    check = sub.add_parser(
        "concheck",
        parents=[common],
        help="every pod to every pod and peer of each network: CONNECTED/TOTAL, IPs, a bandwidth per IP",
    )
    check.add_argument("--no-bandwidth", action="store_true", help="pings only, no transfers")
    check.add_argument("--duration", type=float, default=1.0, help="seconds of each transfer (default 1)")
    check.add_argument(
        "--streams", type=int, default=4, help="parallel TCP streams per transfer (iperf3 -P, default 4)"
    )
    check.add_argument("--format", default="table", choices=("table", "json"))
    from bondlab.cli.lab import wrap

    check.set_defaults(func=wrap(_concheck))
