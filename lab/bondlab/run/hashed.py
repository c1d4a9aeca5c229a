"""`hashed: {flow, policy}`: every session of a flow from a bonded pod carried by the slave the kernel's
transmit hash picks for it (traffic.xmit_hash): the prediction checked session by session, not just a spread.

What it reads, and when:
- where the step stands in the timeline (`at_step`, while the probes run): the bond as the kernel has it,
  from /proc/net/bonding/<bond> of the pod's netns (read through the pod's probe helper, /proc/<pid>/net:
  no process spawned under the probes): its hash policy and its slaves in the bond's own order, with
  their MII status and (802.3ad) aggregator, and over netlink each slave's active/backup state - the
  usable slaves as bond_update_slave_arr makes them (MII up, active, in the active aggregator);
- each session's addresses as the bond sends them, resolved when the traffic started (traffic.sessions: the
  bond's MAC, the next hop's MAC, the source address the kernel picks, the session's ports);
- which slave's switch port carried each session, of the probes sent from where the step stands to the
  next action (traffic.window.Window.per_session): what the bond it read sends. So it stands where the bond
  has settled (after `lacp: negotiated`, not right after a cut), with time (a `wait`) before the next action.
`policy` (default: the bond's own) is what a scenario claims: a bond set to another policy that hashes
the traffic differently fails it, each wrong session named with its predicted and carrying slave. From
pytest (`traffic.expect(after=..., hashed={})`) there is no step to stand at: the bond is read when judged.
"""

from __future__ import annotations

import re

from bondlab.run.reader import READER
from bondlab.traffic import rules, xmit_hash
from bondlab.traffic.verdict import ExpectationFailed, Verdict, each, failed
from bondlab.traffic.xmit_hash import BondView
from bondlab.world.labstate import LabError
from bondlab.world.netns import Netns


def parse_proc(text: str, bond: str, backup: frozenset = frozenset()) -> BondView:
    """/proc/net/bonding/<bond> (bond_procfs.c) -> BondView; `backup`: slaves netlink says are inactive."""
    head, *blocks = text.split("\nSlave Interface: ")
    policy = re.search(r"^Transmit Hash Policy: (\S+)", head, re.M)
    if not policy:
        mode = re.search(r"^Bonding Mode: (.+)$", head, re.M)
        raise ExpectationFailed(
            f"{bond} does not hash ({mode.group(1) if mode else 'no bonding mode'}): `hashed` is for "
            "balance-xor and 802.3ad"
        )
    lacp = "\n802.3ad info\n" in head
    active = re.search(r"^Active Aggregator Info:\n\s*Aggregator ID: (\d+)", head, re.M)
    slaves = []
    for block in blocks:
        name = block.split("\n", 1)[0].strip()
        up = re.search(r"^MII Status: up$", block, re.M) is not None and name not in backup
        if lacp:
            agg = re.search(r"^Aggregator ID: (\d+)$", block, re.M)
            up = up and bool(active and agg and agg.group(1) == active.group(1))
        slaves.append((name, up))
    return BondView(bond, policy.group(1), tuple(slaves))


def read_bond(tl, pod) -> BondView:
    proc = tl.traffic.procs.get(pod.netns) if tl.traffic else None
    if proc is not None and proc.poll() is None:
        with open(f"/proc/{proc.pid}/net/bonding/{pod.bond}") as stream:
            text = stream.read()
    else:
        text = Netns(pod.netns).exec("cat", f"/proc/net/bonding/{pod.bond}").stdout
    backup = frozenset(s for s in pod.slaves if READER.link(pod.netns, s).get("backup"))
    return parse_proc(text, pod.bond, backup)


def _bonded(tl, args: dict) -> list:
    """(flow, its source pod) for the flows judged: the one named, else every flow a bonded pod sends."""
    out = []
    for flow in tl.flows_named(args.get("flow")):
        try:
            pod = tl.names.pod(flow.src)
        except LabError:
            pod = None
        if pod is not None and pod.bond:
            out.append((flow, pod))
        elif args.get("flow"):
            raise ExpectationFailed(f"{flow.name}: `hashed` predicts what a bond sends; {flow.src} has none")
    if not out:
        raise ExpectationFailed("no flow is sent by a bonded pod")
    return out


def at_step(tl, args: dict) -> dict:
    """Where the step stands: when (`t`, the probes' clock), and the judged flows' bonds (`bonds`: pod key
    -> BondView; none when they cannot be read: the verdict reads them again, and says why it cannot)."""
    t = tl.clock()
    try:
        return {"t": t, "bonds": {pod.key: read_bond(tl, pod) for _flow, pod in _bonded(tl, args)}}
    except (ExpectationFailed, LabError, OSError):
        return {"t": t, "bonds": {}}


def session_frames(pod, flow) -> list:
    """The frames the bond sends for each session of `flow`, as xmit_hash reads them: the sessions'
    addresses as the traffic resolved them when it started (traffic.probes.Flow.session_addresses)."""
    if not flow.session_addresses:
        raise ExpectationFailed(f"{flow.name}: its sessions' addresses are not known (no traffic started)")
    return [
        xmit_hash.Frame(s.src_mac, s.dst_mac, s.src_ip, s.dst_ip, s.sport, s.dport, vlan=s.vlan)
        for s in flow.session_addresses
    ]


def hashed(tl, args: dict, action: int) -> Verdict:
    """Judged on the probes sent from where the step stands (the bond it read) to the next action."""
    return each(_hashed(tl, args, action, flow, pod) for flow, pod in _bonded(tl, args))


def _hashed(tl, args: dict, action: int, flow, pod) -> Verdict:
    stood = args.get("at_step") or {}
    view = stood.get("bonds", {}).get(pod.key) or read_bond(tl, pod)
    policy = args.get("policy") or view.policy
    window = tl.window_of(flow, action, stood.get("t", 0))
    refused = rules.one_session_only(flow.name, window)
    if refused:
        return refused
    frames = session_frames(pod, flow)
    try:
        predicted = [f"{pod.name}/{xmit_hash.predict(policy, f, view.usable)}" for f in frames]
    except ValueError as error:  # no usable slave
        return failed(f"{flow.name}: {error}")
    ports = [f.src_port for f in frames]
    return rules.sessions_hashed(
        flow.name, policy, view, predicted, window.per_session, ports, window.stall_ms
    )
