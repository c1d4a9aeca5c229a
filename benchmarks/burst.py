"""A burst of pods: N ADDs at once, then N DELs at once, per plugin; errors, leaks and latency under load.

    python benchmarks/burst.py --pods 100 --rounds 5 --plugin bin/bond --plugin bin/bond-upstream
    bondlab vm -- .venv/bin/python benchmarks/burst.py --pods 100 --rounds 5 --plugin bin/bond ...

Each pod is a netns with two veths already in it (the SR-IOV case: Multus hands the VFs in), bonded
active-backup with host-local IPAM; every plugin gets its own pods, IPAM range and state directory, and the
plugins' rounds are interleaved. After each round it counts what is left behind: bonds, enslaved links,
IPAM leases, state records. Exit status 1 when any plugin had an error or a leak. As root, on a kernel that
can bond (the lab VM here). tests/plugin/test_burst.py runs a small burst in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

CNI_PATH = "/usr/lib/cni"


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def percentile(values, pct):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))]


class Burst:
    """One plugin's pods: made once, ADDed and DELed in rounds, checked for leftovers after each."""

    def __init__(self, plugin: list, pods: int, slot: int, tmp: str) -> None:
        self.plugin = plugin
        self.tag = uuid.uuid4().hex[:5]
        self.peer = f"bbq{self.tag}"
        self.pods = [f"bbp{self.tag}-{i}" for i in range(pods)]
        self.dir = os.path.join(tmp, f"p{slot}")
        self.ipam_dir = os.path.join(self.dir, "ipam")
        self.state_dir = os.path.join(self.dir, "state")
        self.settings = os.path.join(self.dir, "bond.conf")
        os.makedirs(self.dir, mode=0o700)
        with open(self.settings, "w") as fh:
            json.dump({"stateDir": self.state_dir}, fh)
        os.chmod(self.settings, 0o600)
        self.conf = json.dumps(
            {
                "cniVersion": "0.3.1",
                "name": f"burst{slot}",
                "type": "bond",
                "mode": "active-backup",
                "miimon": "100",
                "linksInContainer": True,
                "links": [{"name": "net1"}, {"name": "net2"}],
                "ipam": {"type": "host-local", "subnet": f"10.{80 + slot}.0.0/16", "dataDir": self.ipam_dir},
            }
        ).encode()

    def create(self) -> None:
        sh("ip", "netns", "add", self.peer)
        for i, pod in enumerate(self.pods):
            sh("ip", "netns", "add", pod)
            for n in (1, 2):
                sh(
                    "ip",
                    "-n",
                    self.peer,
                    "link",
                    "add",
                    f"q{i}x{n}",
                    "type",
                    "veth",
                    "peer",
                    "name",
                    f"net{n}",
                    "netns",
                    pod,
                )
                sh("ip", "-n", self.peer, "link", "set", f"q{i}x{n}", "up")

    def destroy(self) -> None:
        for ns in [*self.pods, self.peer]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def exec(self, command: str, i: int) -> tuple:
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": f"burst{self.tag}{i}",
            "CNI_NETNS": f"/var/run/netns/{self.pods[i]}",
            "CNI_IFNAME": "bond0",
            "CNI_PATH": CNI_PATH,
            "BONDCNI_SETTINGS": self.settings,
            "PYTHONPATH": os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "plugin"),
        }
        start = time.monotonic()
        proc = subprocess.run(self.plugin, input=self.conf, env=env, capture_output=True, timeout=600)
        took = time.monotonic() - start
        err = ""
        if proc.returncode != 0:
            try:
                answer = json.loads(proc.stdout)
                err = f"{answer.get('code')}: {answer.get('msg')}"
            except ValueError:
                err = f"exit {proc.returncode}: {proc.stderr.decode(errors='replace')[-200:]}"
        return took, err

    def wave(self, command: str) -> tuple:
        with ThreadPoolExecutor(max_workers=len(self.pods)) as pool:
            results = list(pool.map(lambda i: self.exec(command, i), range(len(self.pods))))
        return [t for t, _ in results], [e for _, e in results if e]

    def leaks(self) -> dict:
        bonds = enslaved = 0
        for pod in self.pods:
            for ln in json.loads(sh("ip", "-n", pod, "-j", "-d", "link", "show") or "[]"):
                kind = ln.get("linkinfo", {}).get("info_kind")
                bonds += kind == "bond"
                enslaved += "master" in ln
        leases = 0
        for _dir, _, files in os.walk(self.ipam_dir):
            leases += sum(1 for f in files if not f.startswith(("last_reserved_ip", "lock")))
        records = 0
        if os.path.isdir(self.state_dir):
            records = sum(1 for f in os.listdir(self.state_dir) if f.endswith(".json"))
        return {"bonds": bonds, "enslaved": enslaved, "leases": leases, "records": records}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--plugin", action="append", default=[], help="a plugin executable (repeatable)")
    opts = parser.parse_args(argv)
    plugins = opts.plugin or [f"{sys.executable} -m bondcni"]
    tmp = tempfile.mkdtemp(prefix="bond-burst-")
    bursts = [Burst(p.split(), opts.pods, n, tmp) for n, p in enumerate(plugins)]
    stats = {p: {"ADD": [], "DEL": [], "errors": 0, "leaks": 0, "samples": []} for p in plugins}
    failed = False
    try:
        for burst in bursts:
            burst.create()
        for rnd in range(opts.rounds):
            for name, burst in zip(plugins, bursts):
                for command in ("ADD", "DEL"):
                    start = time.monotonic()
                    times, errs = burst.wave(command)
                    wall = time.monotonic() - start
                    s = stats[name]
                    s[command] += times
                    s["errors"] += len(errs)
                    s["samples"] += errs[:3]
                    print(
                        f"round {rnd + 1} {name} {command}: {len(errs)} errors, wall {wall:.1f} s, "
                        f"p50 {percentile(times, 50):.2f} s",
                        file=sys.stderr,
                    )
                left = burst.leaks()
                stats[name]["leaks"] += sum(left.values())
                if any(left.values()):
                    print(f"round {rnd + 1} {name}: left behind {left}", file=sys.stderr)
    finally:
        for burst in bursts:
            burst.destroy()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"burst: {opts.pods} pods at once, {opts.rounds} rounds; kernel {os.uname().release}")
    print(
        f"{'plugin':40s} {'errors':>7s} {'leaks':>6s} {'ADD p50':>8s} {'ADD p95':>8s} {'DEL p50':>8s} "
        f"{'DEL p95':>8s}"
    )
    for name in plugins:
        s = stats[name]
        failed |= bool(s["errors"] or s["leaks"])
        print(
            f"{name:40s} {s['errors']:7d} {s['leaks']:6d} {percentile(s['ADD'], 50):8.2f} "
            f"{percentile(s['ADD'], 95):8.2f} {percentile(s['DEL'], 50):8.2f} {percentile(s['DEL'], 95):8.2f}"
        )
        for sample in s["samples"][:3]:
            print(f"    e.g. {sample}")
    if len(plugins) > 1:
        ref = plugins[-1]
        for name in plugins[:-1]:
            for command in ("ADD", "DEL"):
                ratio = statistics.median(stats[name][command]) / statistics.median(stats[ref][command])
                print(f"{name} / {ref}: {command} p50 x{ratio:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
