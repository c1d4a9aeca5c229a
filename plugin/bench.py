"""Benchmark the plugin: ADD and DEL wall time, exec to exit, 2 links, host-local IPAM.  Not a test.

    python plugin/bench.py [--runs 20] [--plugin bin/bond]          # as root, on a kernel that can bond
    python -m bondlab vm -- .venv/bin/python plugin/bench.py        # inside the lab kernel

Prints p50/p95 of ADD and DEL (and of VERSION: the interpreter start-up floor).
"""

from __future__ import annotations

import argparse
import json
import os
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--plugin", default="", help="a plugin executable (default: python -m bondcni)")
    opts = parser.parse_args()
    plugin = [opts.plugin] if opts.plugin else [sys.executable, "-m", "bondcni"]
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
        BONDCNI_STATE_DIR=os.path.join(tmp, "state"),
        PYTHONPATH=os.path.join(os.path.dirname(os.path.abspath(__file__))),
    )
    stdin = json.dumps(conf).encode()

    def run(command: str) -> float:
        start = time.perf_counter()
        proc = subprocess.run(
            ["ip", "netns", "exec", host, *plugin],
            input=stdin,
            env=dict(env, CNI_COMMAND=command),
            capture_output=True,
        )
        took = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{command} failed: {proc.stdout.decode()} {proc.stderr.decode()}")
        return took

    times = {"VERSION": [], "ADD": [], "DEL": []}
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
        run("ADD")  # warm-up: page cache, byte-code
        run("DEL")
        for i in range(opts.runs):
            times["VERSION"].append(run("VERSION"))
            times["ADD"].append(run("ADD"))
            times["DEL"].append(run("DEL"))
            add_ms, del_ms = times["ADD"][-1] * 1000, times["DEL"][-1] * 1000
            print(f"run {i + 1}/{opts.runs}: ADD {add_ms:.0f} ms, DEL {del_ms:.0f} ms", file=sys.stderr)
    finally:
        for ns in (pod, host, peer):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    uname = os.uname()
    print(f"bond CNI benchmark: {' '.join(plugin)}; kernel {uname.release}; {opts.runs} runs, 2 links")
    for command, values in times.items():
        ms = [v * 1000 for v in values]
        print(
            f"{command:8s} p50 {percentile(ms, 50):8.1f} ms   p95 {percentile(ms, 95):8.1f} ms   "
            f"mean {statistics.mean(ms):8.1f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
