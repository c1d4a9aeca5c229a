"""Real-kernel fixtures for the plugin: a throwaway "host" netns the plugin runs in, a throwaway pod netns,
veth links, the plugin exec'd as a subprocess with real CNI env and stdin, and node-state snapshots.

No netlink or bonding-driver mocks: the kernel does the work, `ip -j` reports it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CNI_PATH = "/usr/lib/cni"


def plugin_command() -> list:
    """What the tests exec: BONDCNI_TEST_PLUGIN=path if set; else the artifact we ship, bin/bond (./dev
    builds it before the tests), when it was built after every source of the plugin and of its build changed;
    else this Python, -m bondcni. When it was built is its stamp's time (bin/.bond-built, ./dev's): bin/bond's
    own mtime is its commit's time (a reproducible build), older than any fresh checkout's sources, so on a
    fresh clone - CI's - these tests ran the sources instead of the file that ships."""
    exe = os.environ.get("BONDCNI_TEST_PLUGIN")
    if exe:
        return [exe]
    artifact, stamp = REPO / "bin" / "bond", REPO / "bin" / ".bond-built"
    sources = (REPO / "plugin").glob("bondcni*/*.py")  # bondcni, bondcni_build
    built = stamp.stat().st_mtime if artifact.exists() and stamp.exists() else None
    if built is not None and all(p.stat().st_mtime <= built for p in sources):
        return [str(artifact)]
    return [sys.executable, "-m", "bondcni"]


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def netns_list() -> set:
    out = sh("ip", "-j", "netns", "list").stdout.strip()
    return {n["name"] for n in json.loads(out or "[]")}


def links(ns: str) -> list:
    return json.loads(sh("ip", "-n", ns, "-j", "-d", "link", "show").stdout or "[]")


def link(ns: str, name: str) -> dict:
    proc = sh("ip", "-n", ns, "-j", "-d", "link", "show", "dev", name, check=False)
    return json.loads(proc.stdout)[0] if proc.returncode == 0 else {}


def state_of(ns: str):
    """What a rollback must restore: every link's name, MAC, MTU, admin state and master (None: no netns)."""
    if ns not in netns_list():
        return None
    return sorted(
        (ln["ifname"], ln.get("address"), ln.get("mtu"), "UP" in ln.get("flags", []), ln.get("master", ""))
        for ln in links(ns)
    )


def wait_for(pred, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Result:
    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        try:
            self.json = json.loads(proc.stdout) if proc.stdout.strip() else None
        except ValueError:
            self.json = None

    def __repr__(self) -> str:
        return f"<rc={self.rc} stdout={self.stdout.strip()!r} stderr={self.stderr.strip()[-600:]!r}>"


class Lab:
    """One test's world: host netns (the plugin's own), pod netns, a state dir and an IPAM data dir."""

    def __init__(self, tmp: Path) -> None:
        tag = uuid.uuid4().hex[:6]
        self.host = f"bch-{tag}"
        self.pod = f"bcp-{tag}"
        self.peer = f"bcq-{tag}"  # the far ends of the veths, so moving links does not move their peers
        self.pod_path = f"/var/run/netns/{self.pod}"
        self.state_dir = tmp / "state"
        self.ipam_dir = tmp / "ipam"
        self.tmp = tmp
        self.container_id = f"ctr-{tag}"
        # The node's settings (root-owned, 0600): these tests bond veths from the "host" netns, which the
        # default policy refuses as virtual links; the tenant tests (test_tenant.py) set their own.
        self.settings_file = tmp / "bond.conf"
        self.settings({"hostLinks": {"allow": ["*"], "allowPciAddresses": ["*"]}})
        for ns in (self.host, self.pod, self.peer):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def settings(self, obj: dict) -> None:
        """Write the node settings file the plugin reads (BONDCNI_SETTINGS)."""
        self.settings_file.write_text(json.dumps(obj))
        self.settings_file.chmod(0o600)

    def close(self) -> None:
        for ns in (self.pod, self.host, self.peer):
            if ns in netns_list():
                sh("ip", "netns", "del", ns, check=False)
        wait_for(lambda: not ({self.host, self.pod, self.peer} & netns_list()), 10, "the test netns to go")

    def veth(self, ns: str, name: str, mtu: int = 0, mac: str = "", up: bool = True) -> None:
        """A veth `name` in ns (host or pod) whose peer lives in the peer netns (up)."""
        peer = f"p{uuid.uuid4().hex[:8]}"
        sh("ip", "-n", self.peer, "link", "add", peer, "type", "veth", "peer", "name", name, "netns", ns)
        sh("ip", "-n", self.peer, "link", "set", peer, "up")
        if mtu:
            sh("ip", "-n", ns, "link", "set", name, "mtu", str(mtu))
        if mac:
            sh("ip", "-n", ns, "link", "set", name, "address", mac)
        if up:
            sh("ip", "-n", ns, "link", "set", name, "up")

    def ipam(self, subnet: str = "10.56.217.0/24", gateway: str = "10.56.217.1", **extra) -> dict:
        conf = {
            "type": "host-local",
            "subnet": subnet,
            "gateway": gateway,
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": str(self.ipam_dir),
        }
        conf.update(extra)
        return conf

    def allocations(self) -> list:
        out = []
        if self.ipam_dir.exists():
            for path in self.ipam_dir.rglob("*"):
                if path.is_file() and not path.name.startswith(("last_reserved_ip", "lock")):
                    out.append(path.name)
        return sorted(out)

    def snapshot(self) -> dict:
        return {
            "host": state_of(self.host),
            "pod": state_of(self.pod),
            "netns": sorted(n for n in netns_list() if n.startswith(("bch-", "bcp-", "bcq-"))),
            "state": sorted(p.name for p in self.state_dir.glob("*.json")) if self.state_dir.exists() else [],
            "ipam": self.allocations(),
        }

    def run(
        self,
        command: str,
        conf: dict,
        ifname: str = "bond0",
        netns=None,
        env=None,
        stdin=None,
        container_id=None,
    ) -> Result:
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": container_id or self.container_id,
            "CNI_NETNS": self.pod_path if netns is None else netns,
            "CNI_IFNAME": ifname,
            "CNI_PATH": CNI_PATH,
            "BONDCNI_STATE_DIR": str(self.state_dir),
            "BONDCNI_SETTINGS": str(self.settings_file),
            "PYTHONPATH": str(REPO / "plugin"),
        }
        full_env.update(env or {})
        data = stdin if stdin is not None else json.dumps(conf).encode()
        proc = subprocess.run(
            ["ip", "netns", "exec", self.host, *plugin_command()],
            input=data,
            capture_output=True,
            env=full_env,
            timeout=300,
        )
        return Result(
            subprocess.CompletedProcess(
                proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
            )
        )


@pytest.fixture
def lab(tmp_path):
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and iproute2")
    world = Lab(tmp_path)
    try:
        yield world
    finally:
        world.close()


def bond_conf(links_, mode="active-backup", in_container=True, ipam=None, version="1.0.0", **extra) -> dict:
    conf = {
        "cniVersion": version,
        "name": "bondnet",
        "type": "bond",
        "mode": mode,
        "miimon": "100",
        "linksInContainer": in_container,
        "links": [{"name": n} for n in links_],
    }
    if ipam:
        conf["ipam"] = ipam
    conf.update(extra)
    return conf


def pytest_report_header(config):
    return f"bond plugin under test: {' '.join(plugin_command())}"
