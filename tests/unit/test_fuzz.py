"""Fuzz parse() and the dispatcher: the only outcomes are a BondConf or a CniError with a spec code."""

import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bondcni import config, skel
from bondcni.config import parse
from bondcni.errors import CniError

FIELDS = [
    "cniVersion",
    "name",
    "type",
    "mode",
    "miimon",
    "mtu",
    "failOverMac",
    "linksInContainer",
    "links",
    "ipam",
    "allSlavesActive",
    "tlbDynamicLb",
    "xmitHashPolicy",
    "primary",
    "primaryReselect",
    "updelay",
    "downdelay",
    "arpInterval",
    "arpIpTarget",
    "arpValidate",
    "arpAllTargets",
    "lacpRate",
    "adSelect",
    "minLinks",
    "numGratArp",
    "numUnsolNa",
    "peerNotifyDelay",
    "arpMissedMax",
    "nsIp6Target",
    "lacpActive",
    "coupledControl",
    "adActorSysPrio",
    "adActorSystem",
    "adUserPortKey",
    "broadcastNeighbor",
    "requireDistinctPF",
    "deviceID",
    "pciBusID",
    "runtimeConfig",
    "dns",
    "prevResult",
    "stateDir",
    "logFile",
    "cni.dev/valid-attachments",
]
NICE = {
    "cniVersion": st.sampled_from(list(config.SUPPORTED_VERSIONS) + ["", "0.2.0"]),
    "mode": st.sampled_from(list(config.MODES) + ["x"]),
    "miimon": st.one_of(st.integers(-5, 300), st.sampled_from(["100", "0", "-1", "abc"])),
    "links": st.lists(
        st.one_of(
            st.fixed_dictionaries({"name": st.sampled_from(["net1", "net2", "net3", "", "a/b"])}),
            st.fixed_dictionaries({"pciAddress": st.sampled_from(["0000:03:02.0", "0000:03:02.1", "zz"])}),
            st.fixed_dictionaries(
                {"name": st.sampled_from(["net1", "net2"]), "prio": st.one_of(st.integers(), st.text())}
            ),
        ),
        max_size=4,
    ),
    "ipam": st.one_of(
        st.just({}), st.fixed_dictionaries({"type": st.sampled_from(["host-local", "../x", "bond"])})
    ),
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
configs = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=len(FIELDS)).flatmap(
    lambda d: st.fixed_dictionaries({k: NICE.get(k, st.just(v)) for k, v in d.items()})
)
SPEC_CODES = {1, 6, 7}


def _only_cni_errors(raw: bytes) -> None:
    try:
        conf = parse(raw)
    except CniError as exc:
        assert exc.code in SPEC_CODES, exc
        assert exc.msg
        return
    assert len(conf.links) >= 2 and conf.mode in config.MODES


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(configs)
def test_parse_structured(conf):
    _only_cni_errors(json.dumps(conf).encode())


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_parse_bytes(raw):
    _only_cni_errors(raw)


@settings(max_examples=200)
@given(json_values)
def test_parse_any_json(value):
    _only_cni_errors(json.dumps(value).encode())


ENV_KEYS = ["CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH", "CNI_ARGS"]


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(ENV_KEYS),
        st.one_of(
            st.sampled_from(["ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION", "", "bond0", "c1"]),
            st.text(max_size=20),
        ),
    ),
    configs,
)
def test_dispatch_outputs_only_spec_json(env, conf):
    """With handlers that only parse, any env + config ends in exit 0, or exit 1 and one error JSON line."""

    def handler(args, log):
        parse(args.stdin)

    out, err = io.StringIO(), io.StringIO()
    conf = {k: v for k, v in conf.items() if k.lower() != "logfile"}  # a generated log path would be written
    stdin = io.BytesIO(json.dumps(conf).encode())
    env = {k: v.replace("\x00", "") for k, v in env.items()}
    rc = skel.dispatch(dict.fromkeys(("ADD", "DEL", "CHECK", "GC", "STATUS"), handler), env, stdin, out, err)
    text = out.getvalue()
    if rc == 0:
        assert text == "" or "supportedVersions" in text
        return
    got = json.loads(text)
    assert rc == 1 and isinstance(got["code"], int) and got["code"] != 999, got
    assert "Traceback" not in text
