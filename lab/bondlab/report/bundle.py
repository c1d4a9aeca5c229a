"""`bondlab save DIR`: a support bundle of a deployed lab, for a bug report.

What it holds (paths inside the bundle):
- `inspect.json`: inspection.collect(), the lab as the records and the kernel say;
- `netns/<netns>.json`: `ip -d -j addr show` and `ip -j route show` of every netns of the lab (its mark);
- `bonding/<pod>_<bond>.txt`: /proc/net/bonding/<bond> read inside each pod's netns;
- `plugin/settings.json`, `plugin/<log file>`: the bond plugin's node settings as the plugin reads them (the
  lab's settings file and the BONDCNI_* overrides) and its log; its state files are each node's own, under
  `lab/nodes/NODE/var-lib-cni/bond` (`plugin/state/...` when the settings put them elsewhere);
- `lab/...`: the lab's own records and journal (lab.json, pods/, undo.log, the CNI cache, each node's
  /var/lib/cni; not bin/);
- `about.txt`: when, which bondlab, which kernel.
"""

from __future__ import annotations

import io
import json
import os
import platform
import tarfile
import time
from pathlib import Path

from bondcni import settings as plugin_settings
from bondlab import __version__
from bondlab.cni import libcni, multus
from bondlab.world import inspection
from bondlab.world.labstate import LabState
from bondlab.world.netns import Netns, list_netns

MAX_FILE = 8 << 20  # a log bigger than this is cut to its last MAX_FILE bytes


def _tail(path: Path) -> bytes:
    with open(path, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        stream.seek(max(0, size - MAX_FILE))
        return stream.read()


def _tree(root: Path, prefix: str, skip: tuple = ()) -> dict:
    out = {}
    if not root.is_dir():
        return out
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not path.is_symlink() and rel.parts[0] not in skip:
            out[f"{prefix}/{rel}"] = _tail(path)
    return out


def _plugin(state: LabState) -> dict:
    """The bond plugin's settings, log and state, found as the plugin finds them."""
    env = {**os.environ, **multus.plugin_env(state)}
    got = plugin_settings.load(env)
    about = {"source": got.source, "state_dir": got.state_dir, "log_file": got.log_file or None}
    out = {"plugin/settings.json": json.dumps(about, indent=1).encode()}
    if got.log_file and os.path.isfile(got.log_file):
        out[f"plugin/{os.path.basename(got.log_file)}"] = _tail(Path(got.log_file))
    if Path(got.state_dir).is_relative_to(libcni.NODE_STATE):  # each node's own: in lab/nodes/ below
        about["state_dir"] = f"{got.state_dir} (each node's, in lab/nodes/NODE/var-lib-cni)"
        out["plugin/settings.json"] = json.dumps(about, indent=1).encode()
    else:
        out.update(_tree(Path(got.state_dir), "plugin/state"))
    return out


def gather(state: LabState) -> dict:
    """Bundle path -> bytes."""
    files = {"inspect.json": json.dumps(inspection.collect(state), indent=1).encode()}
    prefix = state.netns_name("")
    for name in sorted(ns for ns in list_netns() if ns.startswith(prefix)):
        ns = Netns(name)
        dump = {"addr": ns.ip_json("-d", "addr", "show"), "route": ns.ip_json("route", "show")}
        files[f"netns/{name}.json"] = json.dumps(dump, indent=1).encode()
    for pod in state.pods:
        if pod.bond:
            text = Netns(pod.netns).exec("cat", f"/proc/net/bonding/{pod.bond}", check=False)
            files[f"bonding/{pod.name}_{pod.bond}.txt"] = (text.stdout or text.stderr).encode()
    files.update(_plugin(state))
    files.update(_tree(state.dir, "lab", skip=("bin",)))
    about = (
        f"bondlab {__version__} support bundle of lab {state.name} (id {state.id})\n"
        f"saved {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\nkernel {platform.release()}\n"
    )
    files["about.txt"] = about.encode()
    return files


def write_dir(files: dict, directory: str) -> None:
    for rel, data in files.items():
        if os.path.isabs(rel) or ".." in Path(rel).parts:
            raise ValueError(f"bundle path {rel!r} leaves the directory")
        path = Path(directory) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def to_tar(files: dict) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for rel, data in files.items():
            info = tarfile.TarInfo(rel)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def from_tar(data: bytes) -> dict:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
