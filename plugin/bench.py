"""Benchmark bond CNI plugins: VERSION, ADD, DEL wall time (exec to exit), 2 links, host-local IPAM.

    python plugin/bench.py [--runs 20] [--plugin bin/bond --plugin bin/bond-upstream]   # as root, can bond
    bondlab vm -- .venv/bin/python plugin/bench.py --plugin bin/bond --plugin bin/bond-upstream

Each iteration runs VERSION, ADD, DEL of every plugin in turn (round-robin), so a busy moment of the machine
hits all of them alike.  Prints p50/p95 per command and plugin, and each plugin's p50 as a ratio of the LAST
plugin's (the reference, e.g. upstream's Go build); for a Python plugin, the modules each command imports; and
the page faults of an exec (p50: the plugin, `ip netns exec` and, for ADD/DEL, the IPAM plugin it runs).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

CNI_PATH = "/usr/lib/cni"


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def percentile(values, pct):
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


def python_argv(plugin: list) -> list:
    """The argv that runs a Python plugin under -X importtime, or [] when it is not a Python script."""
    if plugin[0] == sys.executable:
        return [sys.executable, "-X", "importtime", *plugin[1:]]
    try:
        with open(plugin[0], "rb") as fh:
            first = fh.readline(200)
    except OSError:
        return []
    if not first.startswith(b"#!") or b"python" not in first:
        return []
    interpreter, *args = first[2:].decode().split(" ", 1)  # Linux passes the rest as one argument
    return [interpreter, "-X", "importtime", *args[:1], *plugin]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--imports", action="store_true", help="also list the modules each command of a Python plugin imports"
    )
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        help="a plugin executable; repeat to compare (the last is the reference); default: python -m bondcni",
    )
    opts = parser.parse_args()
    plugins = [[p] for p in opts.plugin] or [[sys.executable, "-m", "bondcni"]]
    tag = uuid.uuid4().hex[:6]
    host, pod, peer = f"bbh-{tag}", f"bbp-{tag}", f"bbq-{tag}"
    tmp = tempfile.mkdtemp(prefix="bond-bench-")
    conf = {
        "cniVersion": "1.0.0",
        "name": "benchnet",
        "type": "bond",
        "mode": "active-backup",
        "miimon": "100",
        "failOverMac": 1,
        "linksInContainer": True,
        "links": [{"name": "net1"}, {"name": "net2"}],
        "ipam": {"type": "host-local", "subnet": "10.77.0.0/24", "dataDir": os.path.join(tmp, "ipam")},
    }
    env = dict(
        os.environ,
        CNI_CONTAINERID="bench",
        CNI_NETNS=f"/var/run/netns/{pod}",
        CNI_IFNAME="bond0",
        CNI_PATH=CNI_PATH,
        PYTHONPATH=os.path.join(os.path.dirname(os.path.abspath(__file__))),
    )
    stdin = json.dumps(conf).encode()

    def run(argv: list, nth: int, command: str) -> subprocess.CompletedProcess:
        state = os.path.join(tmp, f"state-{nth}")
        return subprocess.run(
            ["ip", "netns", "exec", host, *argv],
            input=stdin,
            env=dict(env, CNI_COMMAND=command, BONDCNI_STATE_DIR=state),
            capture_output=True,
        )

    def timed(nth: int, command: str) -> float:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = run(plugins[nth], nth, command)
        took = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # Page faults are the steadiest measure of start-up work (in a UML guest each costs ~0.2 ms)
        faults[nth][command].append(after.ru_minflt + after.ru_majflt - before.ru_minflt - before.ru_majflt)
        if proc.returncode != 0:
            raise SystemExit(
                f"{plugins[nth][0]} {command} failed: {proc.stdout.decode()} {proc.stderr.decode()}"
            )
        return took

    commands = ("VERSION", "ADD", "DEL")
    times = [{c: [] for c in commands} for _ in plugins]
    faults = [{c: [] for c in commands} for _ in plugins]
    modules = [{} for _ in plugins]
    try:
        for ns in (host, pod, peer):
            sh("ip", "netns", "add", ns)
        for name in ("net1", "net2"):
            sh(
                "ip",
                "-n",
                peer,
                "link",
                "add",
                f"p-{name}",
                "type",
                "veth",
                "peer",
                "name",
                name,
                "netns",
                pod,
            )
            sh("ip", "-n", peer, "link", "set", f"p-{name}", "up")
        for nth in range(len(plugins)):  # warm-up: page cache, byte-code
            timed(nth, "ADD")
            timed(nth, "DEL")
        for i in range(opts.runs):
            for nth in range(len(plugins)):
                for command in commands:
                    times[nth][command].append(timed(nth, command))
            line = "  ".join(
                f"[{n + 1}] ADD {t['ADD'][-1] * 1000:.0f} DEL {t['DEL'][-1] * 1000:.0f}"
                for n, t in enumerate(times)
            )
            print(f"run {i + 1}/{opts.runs}: {line} ms", file=sys.stderr)
        for nth, plugin in enumerate(plugins):
            argv = python_argv(plugin)
            for command in commands if argv else ():
                proc = run(argv, nth, command)
                lines = [ln for ln in proc.stderr.decode().splitlines() if ln.startswith("import time:")]
                modules[nth][command] = len(lines) - 1  # minus the header
                if opts.imports:
                    print(f"[{nth + 1}] {command} imports (self us | cumulative us | module):")
                    print("\n".join("    " + line.split(":", 1)[1] for line in lines[1:]))
    finally:
        for ns in (pod, host, peer):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    uname = os.uname()
    print(
        f"bond CNI benchmark: kernel {uname.release}; {opts.runs} runs each, interleaved; 2 links, host-local"
    )
    for nth, plugin in enumerate(plugins):
        print(f"[{nth + 1}] {' '.join(plugin)}" + ("  (reference)" if nth == len(plugins) - 1 else ""))
    print(
        f"{'plugin':6s} {'command':8s} {'p50 ms':>8s} {'p95 ms':>8s} {'mean ms':>8s} {'p50/ref':>8s}"
        f" {'modules':>8s} {'faults':>7s}"
    )
    for command in commands:
        ref = percentile(times[-1][command], 50)
        for nth in range(len(plugins)):
            ms = [v * 1000 for v in times[nth][command]]
            ratio = percentile(times[nth][command], 50) / ref
            count = modules[nth].get(command, "")
            fault_p50 = percentile(faults[nth][command], 50)
            print(
                f"[{nth + 1}]    {command:8s} {percentile(ms, 50):8.1f} {percentile(ms, 95):8.1f} "
                f"{statistics.mean(ms):8.1f} {ratio:7.2f}x {count!s:>8s} {fault_p50:7d}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
