"""Spec-level cases of an attachment's life: DEL's idempotency, CHECK, GC and STATUS (1.1.0), a failed
ADD followed by the DEL the runtime owes it, and many pods at once."""

from __future__ import annotations

import concurrent.futures
import os

from bondlab.conformance import judges
from bondlab.conformance.cases_protocol import SPEC, supported
from bondlab.conformance.registry import case, expect

DEL_TWICE = f"""{SPEC} Section 2 DEL: "Plugins MUST accept multiple DEL calls for the same (CNI_CONTAINERID,
CNI_IFNAME) pair, and return success if the interface in question, or any modifications added, are
missing"."""
BEST_EFFORT = f"""{SPEC} Section 2 DEL: "plugins should always complete a DEL action without error to the
fullest extent possible, even if some resources or state are missing. For example, an IPAM plugin should
generally release an IP allocation and return success even if the container network namespace no longer
exists"."""


def added(ctx, version: str = "1.0.0"):
    """ADD in a fresh sandbox; the node as it was before, the config and the result."""
    before = ctx.sandbox.snapshot()
    conf = ctx.config(version=version)
    return before, conf, ctx.add(conf)


def released(ctx, what: str) -> None:
    expect(not ctx.sandbox.leases(), f"{what}: host-local still holds {ctx.sandbox.leases()}")


@case("del-twice", "spec", DEL_TWICE, generic=True)
def del_twice(ctx):
    before, conf, result = added(ctx)
    ctx.must("DEL", ctx.with_prev(conf, result))
    ctx.must("DEL", ctx.with_prev(conf, result))
    ctx.unchanged(before, "the node is not as it was before ADD")


@case("del-without-add", "spec", DEL_TWICE, generic=True)
def del_without_add(ctx):
    before = ctx.sandbox.snapshot()
    ctx.must("DEL", ctx.config())
    ctx.unchanged(before, "a DEL of nothing changed the node")


@case(
    "del-releases-ipam",
    "spec",
    f"""{SPEC} Section 4: "If a plugin is executed with CNI_COMMAND=CHECK,
      DEL, or GC, it must also execute any delegated plugins".""",
    generic=True,
)
def del_releases(ctx):
    before, conf, result = added(ctx)
    ctx.must("DEL", ctx.with_prev(conf, result))
    released(ctx, "after DEL")
    ctx.unchanged(before, "the node is not as it was before ADD")


@case("del-netns-gone", "spec", BEST_EFFORT, generic=True)
def del_netns_gone(ctx):
    _, conf, result = added(ctx)
    ctx.sandbox.remove_pod()  # the runtime deleted the netns before the DEL
    ctx.must("DEL", ctx.with_prev(conf, result))
    released(ctx, "DEL with the netns gone")


@case(
    "del-empty-netns",
    "spec",
    f"""{SPEC} Section 2 DEL: "Optional environment parameters: CNI_NETNS";
      {BEST_EFFORT}""",
    generic=True,
)
def del_empty_netns(ctx):
    _, conf, result = added(ctx)
    rt = ctx.sandbox.runtime(ctx.ifname, netns_path="")
    ctx.must("DEL", ctx.with_prev(conf, result), rt)
    released(ctx, "DEL with an empty CNI_NETNS")


@case("del-interface-gone", "spec", BEST_EFFORT, generic=True)
def del_interface_gone(ctx):
    _, conf, result = added(ctx)
    ctx.sandbox.pod.ip("link", "del", ctx.ifname)
    ctx.must("DEL", ctx.with_prev(conf, result))
    released(ctx, f"DEL with {ctx.ifname} gone")


@case(
    "del-invalid-config",
    "spec",
    BEST_EFFORT + " (the config no longer validates: a bond mode that does not exist)",
)
def del_invalid_config(ctx):
    _, conf, result = added(ctx)
    ctx.must("DEL", ctx.with_prev(dict(conf, mode="no-such-mode"), result))
    expect(not ctx.sandbox.link(ctx.sandbox.pod, ctx.ifname), f"{ctx.ifname} is still in the pod")


# --- CHECK ------------------------------------------------------------------------------------------------

CHECK_DRIFT = f"""{SPEC} Section 2 CHECK: "The plugin should return an error if a resource included in the
CNI Result type (interface, address or route) was created by the plugin, and is listed in prevResult, but
is missing or in an invalid state"."""


@case(
    "check-after-add",
    "spec",
    f"""{SPEC} Section 2 CHECK: "The plugin must handle CHECK being called
      immediately after an ADD".""",
    generic=True,
)
def check_clean(ctx):
    _, conf, result = added(ctx)
    ctx.must("CHECK", ctx.with_prev(conf, result))
    ctx.must("DEL", ctx.with_prev(conf, result))


def check_fails_after(ctx, drift) -> None:
    _, conf, result = added(ctx)
    drift(ctx)
    got = ctx.call("CHECK", ctx.with_prev(conf, result))
    found = judges.error_problems(got.rc, got.json)
    expect(not found, "CHECK after the drift: " + "; ".join(found))
    ctx.must("DEL", ctx.with_prev(conf, result))


@case("check-address-removed", "spec", CHECK_DRIFT, generic=True)
def check_address(ctx):
    check_fails_after(ctx, lambda c: c.sandbox.pod.ip("addr", "flush", "dev", c.ifname, "scope", "global"))


@case("check-interface-removed", "spec", CHECK_DRIFT, generic=True)
def check_interface(ctx):
    check_fails_after(ctx, lambda c: c.sandbox.pod.ip("link", "del", c.ifname))


# --- STATUS and GC (1.1.0) --------------------------------------------------------------------------------


@case(
    "status-ready",
    "spec",
    f"""{SPEC} Section 2 STATUS: "A plugin must exit with a zero (success) return
      code if the plugin is ready to service ADD requests. If the plugin knows that it is not able to service
      ADD requests, it must exit with a non-zero return code and output an error on standard out".""",
    generic=True,
)
def status_ready(ctx):
    supported(ctx, "1.1.0")
    got = ctx.call("STATUS", ctx.config(version="1.1.0"))
    if not got.ok:
        found = judges.error_problems(got.rc, got.json, codes=(50, 51))
        expect(not found, "STATUS: " + "; ".join(found))
    ctx.add(ctx.config(version="1.1.0"))  # ready means ready: ADD works
    ctx.must("DEL", ctx.config(version="1.1.0"))


def gc(ctx, conf: dict, valid: list):
    attachments = [{"containerID": ctx.rt.container_id, "ifname": ctx.ifname}] if valid else []
    return ctx.must("GC", dict(conf, **{"cni.dev/valid-attachments": attachments}))


GC_SOURCE = f"""{SPEC} Section 2 GC: "a plugin should remove any IPAM reservations associated with
attachments not in the provided list"; "Plugins MUST, additionally, forward any GC calls to delegated
plugins" (with no IPAM in 1.1.0 configs when the node's host-local does not speak 1.1.0: Debian 12's stops at
1.0.0)."""


@case("gc-keeps-valid-attachments", "spec", GC_SOURCE, generic=True)
def gc_keeps(ctx):
    supported(ctx, "1.1.0")
    _, conf, result = added(ctx, "1.1.0")
    leases = ctx.sandbox.leases()
    gc(ctx, conf, valid=True)
    expect(ctx.sandbox.leases() == leases, f"GC dropped a valid attachment's lease: {ctx.sandbox.leases()}")
    ctx.must("CHECK", ctx.with_prev(conf, result))
    ctx.must("DEL", ctx.with_prev(conf, result))


@case("gc-releases-stale-attachments", "spec", GC_SOURCE, generic=True)
def gc_releases(ctx):
    supported(ctx, "1.1.0")
    _, conf, _ = added(ctx, "1.1.0")
    ctx.sandbox.remove_pod()  # the pod is gone and its DEL was lost
    gc(ctx, conf, valid=False)
    released(ctx, "GC of a stale attachment")


# --- a failed ADD, then the DEL the runtime owes it ---------------------------------------------------------

FAILED_ADD = f"""{SPEC} Section 3: "A delete must still be executed even if the add fails"; Section 4: "If, on
ADD, a delegated plugin fails, the "upper" plugin should execute again with DEL before returning
failure"."""


@case("ipam-failure-then-del", "spec", FAILED_ADD, generic=True)
def ipam_failure(ctx):
    conf = ctx.config(ipam=False)
    conf["ipam"] = ctx.sandbox.exhausted_ipam()
    before = ctx.sandbox.snapshot()
    got = ctx.call("ADD", conf)
    found = judges.error_problems(got.rc, got.json)
    expect(not found, "ADD with a failing IPAM: " + "; ".join(found))
    ctx.must("DEL", conf)
    ctx.unchanged(before, "after the failed ADD and its DEL the node is not as it was")


# --- many pods at once ------------------------------------------------------------------------------------

PODS_ENV = "BONDLAB_CONFORMANCE_PODS"  # how many pods parallel-add-del starts (default 20)


@case(
    "parallel-add-del",
    "spec",
    f"""{SPEC} Section 3: "Plugins must handle being executed concurrently
      across different containers. If necessary, they must implement locking on shared resources (e.g. IPAM
      databases)" (20 pods, or ${PODS_ENV}: ADD all at once, then DEL all at once).""",
)
def parallel(ctx):
    sandbox = ctx.sandbox
    pods = [sandbox.new_pod() for _ in range(int(os.environ.get(PODS_ENV, "20")))]
    for pod in pods:
        sandbox.veths(pod, ["net1", "net2"])
    before = {pod.name: sandbox.links(pod) for pod in pods}
    runtimes = [
        sandbox.runtime(ctx.ifname, pod=pod, container_id=f"{sandbox.container_id}-{i}")
        for i, pod in enumerate(pods)
    ]
    conf = ctx.config()
    with concurrent.futures.ThreadPoolExecutor(len(pods)) as pool:
        adds = list(pool.map(lambda rt: ctx.call("ADD", conf, rt), runtimes))
        bad = [str(a) for a in adds if not a.ok]
        expect(not bad, f"{len(bad)}/{len(pods)} ADDs failed, first: {bad[:1]}")
        addresses = [ip["address"] for a in adds for ip in a.json.get("ips") or []]
        expect(
            len(set(addresses)) == len(pods), f"{len(set(addresses))} distinct addresses for {len(pods)} pods"
        )
        dels = list(
            pool.map(
                lambda pair: ctx.call("DEL", ctx.with_prev(conf, pair[1].json), pair[0]), zip(runtimes, adds)
            )
        )
    bad = [str(d) for d in dels if not d.ok]
    expect(not bad, f"{len(bad)}/{len(pods)} DELs failed, first: {bad[:1]}")
    released(ctx, "after every DEL")
    changed = [pod.name for pod in pods if sandbox.links(pod) != before[pod.name]]
    expect(not changed, f"{len(changed)} pods not as they were after DEL")
