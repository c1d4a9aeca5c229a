"""What a case gets: the plugin under test (its binary and what kind of interface plugin it is) in the
case's sandbox, and the runtime's moves on it (ADD, CHECK, DEL ... through the exec protocol)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from bondlab.conformance.driver import Call, call
from bondlab.conformance.registry import Fail, expect
from bondlab.conformance.sandbox import NETWORK, Sandbox, ipam_speaks


@dataclass(frozen=True)
class Subject:
    """A plugin binary and its kind: `bond`, or a reference interface plugin the generic cases also run
    against (macvlan, host-device: the kind is the binary's name)."""

    path: str
    kind: str = "bond"

    @classmethod
    def of(cls, path: str) -> Subject:
        base = os.path.basename(path)
        return cls(os.path.abspath(path), base if base in KINDS else "bond")

    @property
    def ifname(self) -> str:
        return "bond0" if self.kind == "bond" else "net0"


def _bond(sandbox: Sandbox) -> dict:
    sandbox.veths(sandbox.pod, ["net1", "net2"])
    return {
        "type": "bond",
        "mode": "active-backup",
        "miimon": "100",
        "linksInContainer": True,
        "links": [{"name": "net1"}, {"name": "net2"}],
    }


def _macvlan(sandbox: Sandbox) -> dict:
    sandbox.veths(sandbox.host, ["eth1"])
    return {"type": "macvlan", "master": "eth1", "mode": "bridge"}


def _host_device(sandbox: Sandbox) -> dict:
    sandbox.veths(sandbox.host, ["eth1"])
    return {"type": "host-device", "device": "eth1"}


# Per kind: make the links the plugin needs in the sandbox, return its plugin config (without version,
# name and IPAM).
KINDS = {"bond": _bond, "macvlan": _macvlan, "host-device": _host_device}


class Context:
    def __init__(self, subject: Subject, sandbox: Sandbox) -> None:
        self.subject, self.sandbox = subject, sandbox
        self.ifname = subject.ifname
        self.base = KINDS[subject.kind](sandbox)
        self.rt = sandbox.runtime(self.ifname)

    def config(self, version: str = "1.0.0", ipam: bool = True, **fields) -> dict:
        """The plugin's config for this sandbox: `fields` laid over its base (a None value drops a key). No
        IPAM for a version the node's IPAM plugin does not speak (the delegate gets the same config)."""
        conf = {"cniVersion": version, "name": NETWORK, **self.base}
        if ipam and ipam_speaks(version):
            conf["ipam"] = self.sandbox.ipam()
        conf.update(fields)
        return {k: v for k, v in conf.items() if v is not None}

    def call(self, command: str, config, rt=None, **kw) -> Call:
        return call(self.subject.path, command, config, rt or self.rt, **kw)

    def add(self, config: dict, rt=None) -> dict:
        """ADD that must succeed: its result (and, in the case's own pod, CNI_IFNAME made)."""
        got = self.call("ADD", config, rt)
        if not got.ok or not isinstance(got.json, dict):
            raise Fail(f"ADD failed: {got}")
        if rt is None:
            made = self.sandbox.link(self.sandbox.pod, self.ifname)
            expect(made, f"ADD succeeded but made no {self.ifname}")
        return got.json

    def unchanged(self, before: dict, what: str) -> None:
        """The node and the pod as in `before` (a sandbox snapshot), else Fail saying what changed."""
        after = self.sandbox.snapshot()
        expect(after == before, f"{what}: {self.sandbox.difference(before, after)}")

    def must(self, command: str, config: dict, rt=None, **kw) -> Call:
        got = self.call(command, config, rt, **kw)
        if not got.ok:
            raise Fail(f"{command} failed: {got}")
        return got

    def with_prev(self, config: dict, result: Optional[dict]) -> dict:
        """The config a runtime sends on CHECK and DEL after an ADD (prevResult from 0.4.0 on)."""
        if result is None or config.get("cniVersion", "") < "0.4.0":
            return config
        return {**config, "prevResult": result}
