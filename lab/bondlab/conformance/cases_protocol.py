"""Spec-level cases: the CNI protocol every interface plugin owes a runtime (SPEC.md 1.1.0, quoted). The
`generic` ones also run against the reference plugins (macvlan, host-device)."""

from __future__ import annotations

from bondlab.conformance import judges
from bondlab.conformance.registry import NotSupported, case, expect

SPEC = "CNI SPEC.md"


def supported(ctx, version: str) -> None:
    """A plugin is judged on the versions it claims: a case of a version VERSION does not list is N/A."""
    answer = ctx.call("VERSION", {"cniVersion": version}).json or {}
    if version not in (answer.get("supportedVersions") or []):
        raise NotSupported(f"VERSION does not list {version}")


def problems(found: list) -> None:
    expect(not found, "; ".join(found))


def judge_error(got, codes=(), names=()) -> None:
    problems(judges.error_problems(got.rc, got.json, codes))
    text = f"{got.json.get('msg', '')} {got.json.get('details', '')}"
    missing = [n for n in names if n not in text]
    expect(not missing, f"the error does not name {', '.join(missing)}: {got.json.get('msg')!r}")


# --- VERSION ------------------------------------------------------------------------------------------


@case(
    "version-answer",
    "spec",
    f"""{SPEC} Section 5 "VERSION Success": "cniVersion: The value of
      cniVersion specified on input; supportedVersions: A list of supported specification versions".""",
    generic=True,
)
def version_answer(ctx):
    for sent in ("1.0.0", "0.4.0"):
        got = ctx.call("VERSION", {"cniVersion": sent})
        expect(got.ok, f"VERSION failed: {got}")
        problems(judges.version_problems(got.json, sent))


@case(
    "version-needs-only-command",
    "spec",
    f"""{SPEC} Section 2 VERSION: "Required environment
      parameters: CNI_COMMAND".""",
    generic=True,
)
def version_env(ctx):
    got = ctx.call(
        "VERSION",
        {"cniVersion": "1.0.0"},
        unset=("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"),
    )
    expect(got.ok and isinstance(got.json, dict), f"VERSION with only CNI_COMMAND: {got}")


@case(
    "version-unsupported-is-code-1",
    "spec",
    f"""{SPEC} Section 5 "Error": "1 | Incompatible CNI
      version".""",
    generic=True,
)
def version_unsupported(ctx):
    before = ctx.sandbox.snapshot()
    judge_error(ctx.call("ADD", ctx.config(version="99.0.0")), codes=(1,))
    ctx.unchanged(before, "the refused ADD changed the node")


# --- required environment ------------------------------------------------------------------------------

REQUIRED = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
}
ENV_SOURCE = f"""{SPEC} Section 2 {{command}}: "Required environment parameters: {{names}}"; Section 5:
"4 | Invalid necessary environment variables ... The error message must contain the names of invalid
variables"."""


def missing_env(ctx, command: str, name: str):
    judge_error(ctx.call(command, ctx.config(), unset=(name,)), codes=(4,), names=(name,))


for _command, _names in REQUIRED.items():
    for _name in _names:
        case(
            f"env-{_command.lower()}-without-{_name.lower().replace('_', '-')}",
            "spec",
            ENV_SOURCE.format(command=_command, names=", ".join(("CNI_COMMAND",) + _names)),
            generic=True,
            command=_command,
            name=_name,
        )(missing_env)


@case(
    "env-without-command",
    "spec",
    ENV_SOURCE.format(command="(every operation)", names="CNI_COMMAND"),
    generic=True,
)
def no_command(ctx):
    judge_error(ctx.call("ADD", ctx.config(), unset=("CNI_COMMAND",)), codes=(4,), names=("CNI_COMMAND",))


# --- config errors ---------------------------------------------------------------------------------------


@case(
    "config-not-json-is-code-6",
    "spec",
    f"""{SPEC} Section 5: "6 | Failed to decode content. For
      example, failed to unmarshal network config from bytes".""",
    generic=True,
)
def config_not_json(ctx):
    judge_error(ctx.call("ADD", b'{"cniVersion": "1.0.0", "name": '), codes=(6,))


@case(
    "config-invalid-is-code-7",
    "spec",
    f"""{SPEC} Section 5: "7 | Invalid network config. If some
      validations on network configs do not pass, this error will be raised" (a bond mode that does not
      exist).""",
)
def config_invalid(ctx):
    before = ctx.sandbox.snapshot()
    judge_error(ctx.call("ADD", ctx.config(mode="no-such-mode")), codes=(7,))
    ctx.unchanged(before, "the refused ADD changed the node")


# --- ADD --------------------------------------------------------------------------------------------------


def add_shape(ctx, version: str):
    supported(ctx, version)
    conf = ctx.config(version=version)
    result = ctx.add(conf)
    problems(judges.add_result_problems(result, version, ctx.ifname, ctx.rt.netns))
    ctx.must("DEL", ctx.with_prev(conf, result))


for _version in judges.VERSIONS:
    case(
        f"add-result-{_version}",
        "spec",
        f"""{SPEC} Section 5 "ADD Success" for cniVersion {_version}:
         cniVersion as on input; interfaces (name, mac, sandbox: "the value passed via CNI_NETNS"); ips
         (address in CIDR notation, interface: "the index into the interfaces list"); routes; dns (0.3.x
         and 0.4.0 results carry ips[].version, removed in 1.0.0).""",
        generic=True,
        version=_version,
    )(add_shape)


@case(
    "add-existing-ifname-is-an-error",
    "spec",
    f"""{SPEC} Section 2 ADD: "If an interface of the
      requested name already exists in the container, the CNI plugin MUST return with an error".""",
    generic=True,
)
def add_existing(ctx):
    ctx.sandbox.veths(ctx.sandbox.pod, [ctx.ifname])
    existing = ctx.sandbox.link(ctx.sandbox.pod, ctx.ifname)
    got = ctx.call("ADD", ctx.config())
    problems(judges.error_problems(got.rc, got.json))
    after = ctx.sandbox.link(ctx.sandbox.pod, ctx.ifname)
    expect(
        (after.get("address"), after.get("link_kind", after.get("linkinfo")))
        == (existing.get("address"), existing.get("link_kind", existing.get("linkinfo"))),
        f"the pod's own {ctx.ifname} was changed by the refused ADD",
    )


@case(
    "add-ipam-delegation",
    "spec",
    f"""{SPEC} Section 4: the delegated IPAM plugin's addresses are the
      attachment's (ips[] of the result, configured on CNI_IFNAME).""",
    generic=True,
)
def add_ipam(ctx):
    result = ctx.add(ctx.config())
    ips = [ip.get("address") for ip in result.get("ips") or []]
    expect(len(ips) == 1 and ips[0].startswith("10.56.217."), f"result ips {ips}, host-local gives one")
    expect(len(ctx.sandbox.leases()) == 1, f"host-local leases {ctx.sandbox.leases()}")
    on_link = ctx.sandbox.addresses(ctx.sandbox.pod, ctx.ifname)
    expect(on_link == ips, f"{ctx.ifname} holds {on_link}, the result says {ips}")
    ctx.must("DEL", ctx.with_prev(ctx.config(), result))
