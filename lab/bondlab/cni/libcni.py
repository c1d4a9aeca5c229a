"""A small libcni: exec a CNI plugin (or each plugin of a conflist) with the CNI environment, in the node's
netns, and cache results the way libcni does (`results/<network>-<containerID>-<ifname>`, kind cniCacheV1)
so DEL gets the config ADD used and, for 0.4.0+, DEL and CHECK get the ADD result as prevResult.
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import subprocess
from dataclasses import dataclass, field
from typing import Optional

CLONE_NEWNET, CLONE_NEWNS = 0x40000000, 0x00020000
MS_BIND, MS_REC, MS_SLAVE, MNT_DETACH = 0x1000, 0x4000, 0x80000, 2
# where a node keeps its CNI state: host-local's leases, the bond plugin's records
NODE_STATE = "/var/lib/cni"


class CniError(Exception):
    def __init__(self, plugin: str, command: str, code: int, msg: str, details: str = "") -> None:
        self.plugin, self.command, self.code, self.msg, self.details = plugin, command, code, msg, details
        text = f"{plugin} {command} failed (code {code}): {msg}"
        super().__init__(text + (f" ({details})" if details else ""))


@dataclass
class Runtime:
    """What the runtime knows about one attachment (CNI env + where to run)."""

    container_id: str
    netns: str  # path, e.g. /run/netns/bl-1a2b3c-pod-0
    ifname: str
    args: str = ""
    cni_path: list = field(default_factory=list)
    host_netns: Optional[str] = None  # name of the netns the plugin runs in (the node)
    node_state: Optional[str] = None  # the node's own NODE_STATE (a directory), seen there by its plugins
    extra_env: dict = field(default_factory=dict)
    timeout: float = 120


def enter_node(name: str, node_state: Optional[str] = None) -> None:
    """In a forked child: join the netns and see its sysfs, like `ip netns exec` (no extra process); with
    `node_state`, see that directory as NODE_STATE. Nodes of a cluster do not share a disk: host-local on
    two nodes hands out the same address from one range, and the lab must too (its nodes share one kernel)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0 or libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), f"cannot enter netns {name}")
    os.close(fd)
    libc.mount(b"none", b"/", None, MS_REC | MS_SLAVE, None)
    libc.umount2(b"/sys", MNT_DETACH)
    libc.mount(b"sysfs", b"/sys", b"sysfs", 0, None)
    if node_state and libc.mount(node_state.encode(), NODE_STATE.encode(), None, MS_BIND, None) != 0:
        raise OSError(ctypes.get_errno(), f"cannot mount {node_state} on {NODE_STATE}")


def find(plugin_type: str, cni_path: list) -> str:
    for directory in cni_path:
        candidate = os.path.join(directory, plugin_type)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
        if os.path.islink(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise CniError(plugin_type, "ADD", 1, f"failed to find plugin {plugin_type!r} in path {cni_path}")


def cni_env(command: str, rt: Runtime) -> dict:
    """The environment a runtime execs a plugin with (CNI_* from `rt`, plus its extra variables)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": rt.container_id,
        "CNI_NETNS": rt.netns,
        "CNI_IFNAME": rt.ifname,
        "CNI_ARGS": rt.args,
        "CNI_PATH": os.pathsep.join(rt.cni_path),
        **rt.extra_env,
    }


def spawn(path: str, stdin: bytes, env: dict, host_netns: Optional[str], timeout: float, node_state=None):
    """Exec the plugin binary `path` once, in the netns `host_netns` (None: this one) and with the node's
    `node_state` (see enter_node), as a runtime does: config on stdin, `env` as its whole environment.
    Raises subprocess.TimeoutExpired (the plugin killed)."""
    if node_state:
        os.makedirs(NODE_STATE, exist_ok=True)  # the mount point (tmpfs in the lab VM)
    preexec = (lambda: enter_node(host_netns, node_state)) if host_netns else None
    return subprocess.run(
        [path], input=stdin, env=env, capture_output=True, timeout=timeout, preexec_fn=preexec
    )


def exec_plugin(command: str, config: dict, rt: Runtime) -> dict:
    plugin_type = config.get("type", "?")
    path = find(plugin_type, rt.cni_path)
    try:
        proc = spawn(
            path, json.dumps(config).encode(), cni_env(command, rt), rt.host_netns, rt.timeout, rt.node_state
        )
    except subprocess.TimeoutExpired:
        raise CniError(plugin_type, command, 999, f"no answer within {rt.timeout:g} s; killed") from None
    out = proc.stdout.decode(errors="replace").strip()
    if proc.returncode != 0:
        try:
            error = json.loads(out)
            raise CniError(
                plugin_type,
                command,
                int(error.get("code", 999)),
                str(error.get("msg", "")),
                str(error.get("details", "")),
            )
        except (ValueError, AttributeError):
            said = (out or proc.stderr.decode(errors="replace")).strip()
            raise CniError(plugin_type, command, 999, f"exit {proc.returncode}: {said[-400:]}") from None
    if command != "ADD":
        return {}
    try:
        return json.loads(out) if out else {}
    except ValueError:
        raise CniError(plugin_type, command, 999, f"result is not JSON: {out[:200]!r}") from None


def _version_ge(version: str, wanted: str) -> bool:
    def parts(v: str) -> tuple:
        return tuple(int(x) for x in (v or "0.1.0").split(".")[:3] if x.isdigit())

    return parts(version) >= parts(wanted)


def _plugins(config: dict) -> list:
    """A conflist's plugins, each with the list's name and cniVersion (as libcni builds them)."""
    if "plugins" not in config:
        return [config]
    return [
        {**p, "name": config.get("name"), "cniVersion": config.get("cniVersion", p.get("cniVersion"))}
        for p in config["plugins"]
    ]


def cache_file(cache_dir: str, config: dict, rt: Runtime) -> str:
    return os.path.join(cache_dir, "results", f"{config.get('name')}-{rt.container_id}-{rt.ifname}")


def addresses(result: dict) -> list:
    """The IPv4 and IPv6 addresses (with prefix length) a plugin's result gave its interface: `ips` (0.3.0
    and later) or `ip4`/`ip6` (0.2.0)."""
    found = [ip.get("address", "") for ip in result.get("ips") or []]
    found += [result[key].get("ip", "") for key in ("ip4", "ip6") if result.get(key)]
    return [address for address in found if address]


def add(config: dict, rt: Runtime, cache_dir: str) -> dict:
    result: Optional[dict] = None
    for plugin in _plugins(config):
        conf = dict(plugin)
        if result is not None:
            conf["prevResult"] = result
        result = exec_plugin("ADD", conf, rt)
    path = cache_file(cache_dir, config, rt)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    entry = {
        "kind": "cniCacheV1",
        "containerId": rt.container_id,
        "ifName": rt.ifname,
        "networkName": config.get("name"),
        "cniArgs": rt.args,
        "config": base64.b64encode(json.dumps(config).encode()).decode(),
        "result": result,
    }
    with open(path, "w") as stream:
        json.dump(entry, stream)
    return result or {}


def cached(config: dict, rt: Runtime, cache_dir: str) -> Optional[dict]:
    try:
        with open(cache_file(cache_dir, config, rt)) as stream:
            return json.load(stream)
    except (OSError, ValueError):
        return None


def check(config: dict, rt: Runtime, cache_dir: str) -> None:
    """CHECK as libcni's CheckNetworkList: every plugin in order, each given the cached ADD result as
    prevResult (CHECK is 0.4.0 on); the first failure raises CniError."""
    entry = cached(config, rt, cache_dir)
    if not entry:
        raise CniError(str(config.get("name")), "CHECK", 999, "no cached ADD result for this attachment")
    for plugin in _plugins(config):
        exec_plugin("CHECK", dict(plugin, prevResult=entry.get("result")), rt)


def delete(config: dict, rt: Runtime, cache_dir: str) -> None:
    """DEL with the config ADD used (from the cache if there is one); plugins of a list in reverse."""
    entry = cached(config, rt, cache_dir)
    if entry:
        config = json.loads(base64.b64decode(entry["config"]))
    prev = entry.get("result") if entry else None
    errors = []
    for plugin in reversed(_plugins(config)):
        conf = dict(plugin)
        if prev and _version_ge(conf.get("cniVersion", ""), "0.4.0"):
            conf["prevResult"] = prev
        try:
            exec_plugin("DEL", conf, rt)
        except CniError as error:
            errors.append(error)
    if errors:
        raise errors[0]
    try:
        os.unlink(cache_file(cache_dir, config, rt))
    except FileNotFoundError:
        pass
