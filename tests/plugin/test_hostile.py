"""Hostile network configs through ADD, CHECK and DEL on a real kernel (hypothesis-generated).

Strings with newlines, '../', absolute paths, NUL, very long names and unicode go into every field a tenant
writes. The only outcomes allowed: a CNI error JSON with a spec or plugin code, or a correct bond that DEL
removes. Whatever the outcome: no file of a watched tree changes, nothing appears where a string points,
and the root netns's and the plugin's netns's links, addresses and routes are as they were. (The IPAM plugin's
own fields, such as host-local's dataDir, are the IPAM plugin's to trust: SECURITY.md, residual risks.)
BONDCNI_HOSTILE_EXAMPLES sets the number of examples (the long run: benchmarks, see SECURITY.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Lab, bond_conf, sh
from .test_tenant import host_view

pytestmark = pytest.mark.kernel

WATCHED = Path(tempfile.gettempdir()) / "bondcni-watched"
EXAMPLES = int(os.environ.get("BONDCNI_HOSTILE_EXAMPLES", "20"))
ALLOWED = {1, 2, 3, 4, 5, 6, 7, 8, 11, 100, 101, 102, 103, 104, 105, 106}
STRING_FIELDS = [
    "cniVersion",
    "name",
    "mode",
    "primary",
    "miimon",
    "xmitHashPolicy",
    "stateDir",
    "logFile",
    "deviceID",
    "arpIpTarget",
    "lacpRate",
    "primaryReselect",
    "LogFile",
    "dataDir",
]

hostile = st.one_of(
    st.sampled_from(
        [
            "1.0.0\n2026-01-01T00:00:00 bond info forged",
            f"{WATCHED}/victim",
            f"../../../..{WATCHED}/victim",
            "/etc/cron.d/bond",
            "/root/.ssh/authorized_keys",
            "net1\x00eth0",
            "eth0",
            "a" * 300,
            "é\u2028\u0085\u202e",
            "$(touch /tmp/pwned)",
            "0000:00:00.0",
            "..",
            "../x",
        ]
    ),
    st.text(min_size=0, max_size=40),
)
edits = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(STRING_FIELDS), hostile),
        st.tuples(st.just("ipam.type"), hostile),
        st.tuples(st.just("links[0].name"), hostile),
        st.tuples(st.just("links[1].pciAddress"), hostile),
    ),
    min_size=1,
    max_size=4,
)


def _watched_tree() -> dict:
    out = {}
    for path in sorted(WATCHED.rglob("*")):
        st_ = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        out[str(path)] = (st_.st_mode, st_.st_size, st_.st_mtime_ns, digest)
    return out


def _root_view() -> dict:
    return {
        what: sh("ip", "-j", *argv).stdout
        for what, argv in (
            ("links", ("link",)),
            ("addrs", ("addr",)),
            ("routes", ("route", "show", "table", "all")),
        )
    }


def _apply(conf: dict, key: str, value: str) -> None:
    if key.startswith("ipam."):
        conf.setdefault("ipam", {})[key[5:]] = value
    elif key.startswith("links["):
        index, field = int(key[6]), key.split(".", 1)[1]
        conf["links"][index] = {field: value}
    else:
        conf[key] = value


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(edits)
def test_hostile_configs(changes):
    WATCHED.mkdir(exist_ok=True)
    (WATCHED / "victim").write_text("untouched\n")
    with tempfile.TemporaryDirectory() as tmp:
        lab = Lab(Path(tmp))
        lab.settings({})  # the node's defaults: no allowances
        try:
            lab.veth(lab.pod, "net1")
            lab.veth(lab.pod, "net2")
            lab.veth(lab.host, "eth0")
            sh("ip", "-n", lab.host, "addr", "add", "192.0.2.10/24", "dev", "eth0")
            before = (_watched_tree(), _root_view(), host_view(lab), lab.snapshot())
            conf = bond_conf(["net1", "net2"], ipam=lab.ipam())
            for key, value in changes:
                _apply(conf, key, value)
            res = lab.run("ADD", conf)
            if res.rc == 0:
                out = json.loads(res.stdout)
                lab.run("CHECK", dict(conf, prevResult=out))
            else:
                assert res.rc == 1 and "Traceback" not in res.stdout, res
                assert json.loads(res.stdout)["code"] in ALLOWED, res
            assert lab.run("DEL", conf).rc in (0, 1)
            assert lab.run("DEL", bond_conf(["net1", "net2"], ipam=lab.ipam())).rc == 0  # the clean-up
            after = (_watched_tree(), _root_view(), host_view(lab), lab.snapshot())
            assert after == before, (changes, res)
            assert not os.path.exists("/tmp/pwned")
        finally:
            lab.close()
