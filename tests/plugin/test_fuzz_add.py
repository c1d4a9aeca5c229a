"""Fuzz ADD on a real kernel: generated invalid configs and environments.

The only outcomes allowed: a CNI error JSON with a spec or plugin code (never 999, never a traceback) and a
node left exactly as it was; or, when the mutation happens to be valid, success and a DEL that restores it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..unit.test_fuzz import FIELDS as UNIT_FIELDS
from .conftest import Lab, bond_conf

pytestmark = pytest.mark.kernel

# every config field, stateDir and logFile included: a network config never chooses files (they are refused)
FIELDS = list(UNIT_FIELDS)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 70000),
    st.text(max_size=12),
    st.sampled_from(["active-backup", "802.3ad", "100", "eth1", "../x", "0000:00:00.0", "1.1.0", "0.2.0"]),
    st.lists(
        st.fixed_dictionaries({"name": st.sampled_from(["eth1", "eth2", "eth9", "bond0", ""])}), max_size=3
    ),
    st.fixed_dictionaries({"type": st.sampled_from(["host-local", "nope", "a/b", ""])}),
)
mutations = st.lists(
    st.tuples(st.sampled_from(FIELDS), st.one_of(st.just("<drop>"), values)), min_size=1, max_size=3
)
env_mutations = st.dictionaries(
    st.sampled_from(["CNI_IFNAME", "CNI_CONTAINERID", "CNI_NETNS", "CNI_PATH"]),
    st.sampled_from(["", "a" * 16, "bad name", "eth1", "/nonexistent", "-x", "bond0"]),
    max_size=2,
)
ALLOWED = {1, 2, 3, 4, 5, 6, 7, 8, 11, 100, 101, 102, 103, 104, 105, 106}


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutations, env_mutations)
def test_fuzz_add(changes, env):
    with tempfile.TemporaryDirectory() as tmp:
        lab = Lab(Path(tmp))
        try:
            lab.veth(lab.host, "eth1", mtu=1400, mac="02:aa:00:00:00:01")
            lab.veth(lab.host, "eth2", mac="02:aa:00:00:00:02", up=False)
            before = lab.snapshot()
            conf = bond_conf(["eth1", "eth2"], in_container=False, ipam=lab.ipam())
            for key, value in changes:
                if value == "<drop>":
                    conf.pop(key, None)
                else:
                    conf[key] = value
            res = lab.run("ADD", conf, env=env)
            if res.rc == 0:
                assert lab.run("DEL", conf, env=env).rc == 0
            else:
                assert res.rc == 1, res
                err = json.loads(res.stdout)
                assert err["code"] in ALLOWED, res
            assert lab.snapshot() == before, (changes, env, res)
        finally:
            lab.close()
