"""The Python API of the lab, on the engine the YAML scenarios run on: Lab (deploy, actions, polled
expectations), Pod (a pod's netns, links and bond); pytest.probes.Probes (traffic, figures, traffic
expectations).
pytest.fixtures hands them to tests as the `lab`, `pod` and `traffic` fixtures.

Actions, polled expectations and traffic figures are those of the YAML runner (run.timeline.Timeline,
through the step registry run.steps): lab.act(KIND, ARGS) takes any action a scenario step takes,
lab.expect(...) any expectation, built into the same typed steps (model.steps.step) with the same checks
and messages (a bad step raises a SourceError naming the caller's line). A failure raises
traffic.verdict.ExpectationFailed; traffic.verdict.MeasurementError when every failure of the step was a
measurement error (a starved probe sender or runner could hide what was asked).
"""

from __future__ import annotations

import logging
import secrets
from typing import Optional

from bondlab.pytest.caller import caller_line, raise_failures

log = logging.getLogger("bondlab.pytest")


# -- the lab -------------------------------------------------------------------------------------------
class Lab:
    """A deployed lab with the YAML runner's engine on it: names -> kernel objects, actions, polled checks."""

    def __init__(self, state, subject: str, progress=None) -> None:
        from bondlab.run.timeline import Timeline

        self.state = state
        self.subject = subject
        self.run = Timeline(state, progress or log.info)
        self.steps: list = []  # StepResult of every action and expectation, in order
        from bondlab.pytest.probes import Probes

        self.traffic = Probes(self)
        self.run.open_sockets()

    @classmethod
    def deploy(
        cls,
        files=(),
        yaml=(),
        topology=None,
        backend: str = "veth",
        plugin: Optional[str] = None,
        pods: Optional[str] = None,
        subject: str = "python",
        progress=None,
    ) -> Lab:
        """Check the whole input, then build the world and the pods (deploy.prepare / deploy.deploy)."""
        from bondlab import deploy

        prepared = deploy.prepare(_documents(files, yaml, subject), backend=backend, topo=topology)
        say = progress or log.info
        state = deploy.deploy(
            prepared, name=f"py-{secrets.token_hex(3)}", plugin=plugin, progress=say, pods_backend=pods
        )
        try:
            return cls(state, subject, say)
        except BaseException:
            from bondlab.run.reader import READER

            READER.close()
            deploy.destroy(state)
            raise

    def destroy(self) -> list:
        """Stop the probes, close the sockets, unwind the undo log; errors, including anything owned left."""
        from bondlab import deploy
        from bondlab.world import clean

        unjudged = self.run.traffic and not self.run.traffic.stopped and self.run.deferred
        self.traffic.close()
        self.run.close()
        errors = deploy.destroy(self.state)
        left = clean.leftovers(self.state.id)
        if left["netns"] or left["links"]:
            errors.append(f"left behind: {left}")
        if unjudged:
            errors.append("traffic expectations never judged: traffic.stop() was not called")
        return errors

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc) -> None:
        errors = self.destroy()
        if errors and exc[0] is None:
            from bondlab.world.labstate import LabError

            raise LabError(f"lab {self.name}: teardown: " + "; ".join(errors))

    # -- names ------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.state.name

    @property
    def pods(self) -> list:
        return [record.name for record in self.state.pods]

    @property
    def peers(self) -> dict:
        """name -> world.records.Peer (netns, switch, addresses, vlan)."""
        return self.state.peers

    def pod(self, name: str) -> Pod:
        return Pod(self, self.run.names.pod(name))

    # -- the timeline -----------------------------------------------------------------------------
    def _step(self, kind: str, args):
        """A scenario step, checked against the scenario schema, located at the test's calling line."""
        from bondlab.model import steps
        from bondlab.run.results import StepResult

        step = steps.step(len(self.steps), {kind: args}, caller_line(), self.subject)
        sr = StepResult.started(step)
        self.steps.append(sr)
        return step, sr

    def act(self, kind: str, args=None):
        """Do one action as a scenario step does (`cut`, `restore`, `linkState`, `admin`, `flap`, `netem`,
        `setActive`, `deleteSlave`, `restartPod`, `wait`) and return its record (run.results.StepResult: `t`
        when it started, `done_at` when its first link change was sent, ns): the start
        of a traffic window, for traffic.window(after=...)."""
        step, sr = self._step(kind, args if args is not None else {})
        self.run.play(step, sr, [])
        return sr

    def cut(self, **target):
        """cut(vf="POD/IFACE") / pf="NODE/PF" / uplink="NODE/PF" / port="NAME" / active="POD"."""
        return self.act("cut", target)

    def restore(self, **target):
        return self.act("restore", target)

    def expect(self, **expectations) -> str:
        """Expectations as in a scenario's `expect:` step. Kernel state (activeSlave, mii, carrier, macSeen,
        lacp, aggregator, connectivity) is polled now, timed from the action just before when it directly
        follows one, and a failure raises traffic.verdict.ExpectationFailed (MeasurementError when the runner
        was starved); traffic figures (outage, lost, spread, carriedBy, garp, lacpdu) are judged on the
        window of the last action when traffic.stop() is called. Returns what was seen."""
        from bondlab.model.steps import needs_flows

        needs = needs_flows("expect", expectations)
        if needs and not self.traffic.running:
            from bondlab.world.labstate import LabError

            raise LabError(f"{', '.join(needs)}: this expectation needs traffic: call traffic.start() first")
        step, sr = self._step("expect", expectations)
        failures: list = []
        self.run.play(step, sr, failures)
        raise_failures(failures)
        return sr.message


def _documents(files, yaml, subject: str) -> list:
    """The documents of the files, then of the inline YAML texts (named `SUBJECT[yaml N]` in errors)."""
    from bondlab.model import yamlsrc

    texts = [yaml] if isinstance(yaml, str) else list(yaml)
    docs = yamlsrc.load_files([str(f) for f in files])
    for i, text in enumerate(texts):
        docs += yamlsrc.load_all(text, f"{subject}[yaml {i + 1}]")
    return docs


# -- a pod ---------------------------------------------------------------------------------------------
class Pod:
    """One pod of a lab: its record (bond, slaves, addresses as deploy wrote them) and its links, read from
    the kernel when asked."""

    def __init__(self, lab: Lab, record) -> None:
        self.lab = lab
        self.name, self.key, self.node, self.netns = record.name, record.key, record.node, record.netns

    @property
    def record(self):
        """The pod's record (world.records.Pod) as it is now: a restartPod writes a new one."""
        return self.lab.state.pod(self.key)

    def __repr__(self) -> str:
        return f"Pod({self.key} in {self.netns})"

    def exec(self, *argv: str, check: bool = True, timeout: float = 60):
        """Run a host command in the pod's network namespace (`ip netns exec`; a docker pod's netns too)."""
        from bondlab.world.netns import Netns

        return Netns(self.netns).exec(*argv, check=check, timeout=timeout)

    def ip_json(self, *args: str):
        from bondlab.world.netns import Netns

        return Netns(self.netns).ip_json(*args)

    @property
    def links(self) -> dict:
        """ifname -> `ip -d -j link show` of every link in the pod."""
        return {link["ifname"]: link for link in self.ip_json("-d", "link", "show") or []}

    def link(self, ifname: str) -> dict:
        """{carrier, address, active_slave, mii_status} over netlink (no process: cheap to poll)."""
        from bondlab.run.reader import READER

        return READER.link(self.netns, ifname)

    @property
    def bond(self) -> str:
        """The bond's interface name (from the pod's bond network)."""
        return self.lab.run.names.bond_of(self.record)

    @property
    def slaves(self) -> list:
        """The bond's slaves as its ADD enslaved them."""
        return self.lab.run.names.slaves(self.record)

    @property
    def active_slave(self) -> Optional[str]:
        return self.link(self.bond).get("active_slave")

    @property
    def addresses(self) -> list:
        """The bond's IPv4 addresses (with prefix length)."""
        return self.lab.run.names.endpoint(self.name)[1]

    def bond_state(self) -> dict:
        """{name, mode, active_slave, up, carrier, address, slaves: {slave: MII status}, options: the kernel's
        bonding attributes (`ip -d` info_data)}."""
        bond, links = self.bond, self.links
        link = links.get(bond)
        if link is None:
            from bondlab.world.labstate import LabError

            raise LabError(f"pod {self.key}: no link {bond!r}")
        options = (link.get("linkinfo") or {}).get("info_data") or {}
        return {
            "name": bond,
            "mode": options.get("mode"),
            "active_slave": options.get("active_slave"),
            "up": "UP" in link.get("flags", []),
            "carrier": "LOWER_UP" in link.get("flags", []),
            "address": link.get("address"),
            "slaves": {
                name: self.link(name).get("mii_status")
                for name, slave in links.items()
                if slave.get("master") == bond
            },
            "options": options,
        }

    @property
    def host(self):
        """The testinfra host of this pod: netns://NAME, or docker://NAME (its engine) for a docker pod."""
        from bondlab.pytest import infra

        if self.record.container:
            return infra.container(self.record, self.lab.state.docker.url)
        return infra.host(self.netns)
