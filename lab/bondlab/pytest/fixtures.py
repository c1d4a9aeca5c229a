"""pytest fixtures for failover scenarios written in Python, on the engine the YAML scenarios run on.

    BOND_NAD = '''
    apiVersion: k8s.cni.cncf.io/v1
    kind: NetworkAttachmentDefinition
    metadata: {name: bond-net}
    spec: {config: '{"type": "bond", "mode": "active-backup", "miimon": "100", ...}'}
    '''

    @pytest.mark.lab("../lib/two-pf-pod.yaml", yaml=BOND_NAD)
    def test_failover(lab, pod, traffic, host):
        traffic.start({"from": "test-pod", "to": "gw"})
        cut = lab.cut(vf="test-pod/net1")
        until(lambda: pod.active_slave == "net2", 1.0, "net2 takes over")
        traffic.wait_delivered(300)
        traffic.stop()
        traffic.expect(after=cut, outage={"max": "110ms"})
        assert "UP" in host.interface("bond0").link["flags"]

The marker `lab(*files, yaml=TEXT|[TEXTS], backend="veth", pods=None, plugin=None, pod=None)` is the lab's
input: files relative to the test file (like a scenario's spec.lab.files), YAML documents inline, the
backend of a derived topology, the pod backend (netns | docker), the bond binary under test (default
$BONDLAB_PLUGIN, else bin/bond) and the pod the `pod` and `host` fixtures stand for (default: the only one).

Fixtures (function scope):
- topology: the world `lab` builds (a topology.Topology: the input's BondLab document, else derived from
  it); override it in a test module to build one in Python;
- lab: a Lab, deployed from the marker's input on `topology`, destroyed after the test; the teardown fails
  the test if anything the lab owned (netns, link) is left;
- pod: a Pod handle (exec, links, bond state) of the test's pod; others by name with lab.pod(NAME);
- traffic: the lab's Probes (the scenario runner's probe helpers: flows, per-slave taps, figures);
- host: a testinfra host of that pod (`netns://NAME`, or `docker://NAME` for docker pods); it stands in for
  pytest-testinfra's own `host` fixture.

Actions, polled expectations and traffic figures are those of the YAML runner (runner.Run): lab.act(KIND,
ARGS) takes any action a scenario step takes, lab.expect(...) any expectation, with the same checks and
the same messages (a bad step raises a SourceError naming the test's line). As with a YAML scenario, a
test whose failure is a measurement error (runner.MeasurementError: a starved probe sender or runner could
hide what was asked) runs again with fresh fixtures, runner.ATTEMPTS times in all. Every test that uses
lab, pod, traffic or host is marked `kernel` at collection, so on a host that cannot bond it runs in the
lab VM's pytest session with the other kernel tests.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from typing import Optional

import pytest

log = logging.getLogger("bondlab.pytest.fixtures")

KERNEL_FIXTURES = ("lab", "pod", "traffic", "host")


# -- the lab -------------------------------------------------------------------------------------------
class Lab:
    """A deployed lab with the YAML runner's engine on it: names -> kernel objects, actions, polled checks."""

    def __init__(self, state, subject: str, progress=None) -> None:
        from bondlab.model import scenario
        from bondlab.run import runner

        self.state = state
        self.subject = subject
        self.scenario = scenario.Scenario(path=subject, name=subject)  # flows and rate: traffic.start()
        self.run = runner.Run(self.scenario, state, progress or log.info)
        self.steps: list = []  # StepResult of every action and expectation, in order
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

        paths, texts = _inputs(files, yaml, subject)
        prepared = deploy.prepare(paths, backend=backend, texts=texts, topo=topology)
        say = progress or log.info
        state = deploy.deploy(
            prepared, name=f"py-{secrets.token_hex(3)}", plugin=plugin, progress=say, pods_backend=pods
        )
        try:
            return cls(state, subject, say)
        except BaseException:
            from bondlab.run.runner import READER

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
        return self.state.data["name"]

    @property
    def pods(self) -> list:
        return [record["name"] for record in self.state.data["pods"]]

    @property
    def peers(self) -> dict:
        """name -> {netns, switch, addresses, vlan}."""
        return self.state.data.get("peers", {})

    def pod(self, name: str) -> Pod:
        return Pod(self, self.run.pod(name))

    # -- the timeline -----------------------------------------------------------------------------
    def _step(self, kind: str, args):
        """A scenario step, checked against the scenario schema, located at the test's calling line."""
        from bondlab.model import scenario
        from bondlab.model.yamlsrc import SourceError
        from bondlab.run import runner

        where = _caller()
        try:
            scenario.validate({kind: args}, {"$ref": "#/$defs/step"}, "", None, None, self.subject)
        except SourceError as error:
            raise SourceError(error.message, where, error.path, error.subject) from None
        step = scenario.Step(len(self.steps), kind, args, where)
        sr = runner.StepResult(step.index, step.kind, step.describe(), step.where, t=time.time_ns())
        self.steps.append(sr)
        return step, sr

    def act(self, kind: str, args=None):
        """Do one action as a scenario step does (`cut`, `restore`, `linkState`, `admin`, `flap`, `netem`,
        `setActive`, `deleteSlave`, `restartPod`, `wait`) and return its record (runner.StepResult: `t`
        when it started, `done_at` the kernel's acknowledgement of its first link change, ns): the start
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
        connectivity) is polled now, timed from the action just before when it directly follows one, and a
        failure raises runner.ExpectationFailed (runner.MeasurementError when the runner was starved);
        traffic figures (outage, lost, spread, carriedBy, garp, lacpdu) are judged on the window of the last
        action when traffic.stop() is called. Returns what was seen."""
        from bondlab.run import runner

        if any(kind in runner.DEFERRED for kind in expectations) and not self.traffic.running:
            from bondlab.world.labstate import LabError

            raise LabError("this expectation needs traffic: call traffic.start() first")
        step, sr = self._step("expect", expectations)
        failures: list = []
        self.run.play(step, sr, failures)
        _raise(failures)
        return sr.message


def _raise(failures: list) -> None:
    """Raise the failures of a step as one runner.ExpectationFailed; a runner.MeasurementError when every
    one is a measurement error (the test runs again, as a YAML scenario does)."""
    from bondlab.run import runner

    if failures:
        blind = all("measurement error" in line for line in failures)
        raise (runner.MeasurementError if blind else runner.ExpectationFailed)("\n".join(failures))


def _inputs(files, yaml, subject: str):
    """Paths for deploy.prepare, and the inline YAML texts that stand in for files."""
    texts = [yaml] if isinstance(yaml, str) else list(yaml)
    named = {f"{subject}[yaml {i + 1}]": text for i, text in enumerate(texts)}
    return [str(f) for f in files] + list(named), named


def _caller() -> str:
    """file:line of the first frame outside this module (the test line that made a step)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    if frame is None:
        return "<python>"
    return f"{os.path.relpath(frame.f_code.co_filename)}:{frame.f_lineno}"


# -- a pod ---------------------------------------------------------------------------------------------
class Pod:
    """One pod of a lab: its netns, its links and its bond, read from the kernel when asked."""

    def __init__(self, lab: Lab, record: dict) -> None:
        self.lab, self.record = lab, record
        self.name, self.key, self.node = record["name"], record["key"], record["node"]
        self.netns = record["netns"]

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
        from bondlab.run.runner import READER

        return READER.link(self.netns, ifname)

    @property
    def bond(self) -> str:
        """The bond's interface name (from the pod's bond network)."""
        return self.lab.run.bond_of(self.record)

    @property
    def slaves(self) -> list:
        return self.lab.run.slaves(self.record)

    @property
    def active_slave(self) -> Optional[str]:
        return self.link(self.bond).get("active_slave")

    @property
    def addresses(self) -> list:
        """The bond's IPv4 addresses (with prefix length)."""
        return self.lab.run.endpoint(self.name)[1]

    def bond_state(self) -> dict:
        """{name, mode, active_slave, up, carrier, address, slaves: {slave: MII status}, options: the kernel's
        bonding attributes (`ip -d` info_data)}."""
        bond = self.bond
        link = self.links.get(bond)
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
            "slaves": {slave: self.link(slave).get("mii_status") for slave in self.slaves},
            "options": options,
        }

    @property
    def host(self):
        """The testinfra host of this pod: netns://NAME, or docker://NAME (its engine) for a docker pod."""
        from bondlab.pytest import infra

        if self.record.get("container"):
            return infra.container(self.record, self.lab.state.data["docker"]["url"])
        return infra.host(self.netns)


# -- traffic -------------------------------------------------------------------------------------------
class Probes:
    """The scenario runner's probes on a lab: one helper per netns sending timestamped UDP probes on an
    absolute schedule, switch-port taps for per-slave accounting; one start and one stop per lab."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.workdir: Optional[str] = None
        self.failures: list = []

    @property
    def running(self):
        return self.lab.run.traffic

    def start(self, *flows, rate: int = 1000) -> list:
        """Start flows (`{"from": A, "to": B, "bidirectional": True, "rate": N}` or `(A, B)`: pods, POD/BOND
        or peers) and return once every flow delivers; returns the traffic.Flow list (names `A -> B`)."""
        from bondlab.model import scenario
        from bondlab.model.yamlsrc import SourceError
        from bondlab.world.labstate import LabError

        if self.workdir is not None:
            raise LabError("traffic runs once per lab: start() was called before")
        raw = [dict(zip(("from", "to"), f)) if isinstance(f, (tuple, list)) else dict(f) for f in flows]
        if not raw:
            raise LabError("traffic.start() needs at least one flow")
        where = _caller()
        for i, flow in enumerate(raw):
            try:
                scenario.validate(flow, {"$ref": "#/$defs/flow"}, f"flows[{i}]", None, None, self.lab.subject)
            except SourceError as error:
                raise SourceError(error.message, where, error.path, error.subject) from None
        self.lab.scenario.flows, self.lab.scenario.rate = raw, rate
        self.workdir = tempfile.mkdtemp(prefix="bondlab-traffic-")
        self.lab.run.start_traffic(self.workdir)
        return list(self.lab.run.flows)

    @property
    def flows(self) -> list:
        return list(self.lab.run.flows)

    def delivered(self) -> dict:
        """Flow name -> probes delivered so far (asks the running helpers)."""
        got = self._need(running=True).counts()
        return {flow.name: got.get(flow.id, 0) for flow in self.lab.run.flows}

    def wait_delivered(self, count: int, timeout: float = 10.0) -> dict:
        """Wait (deadline `timeout` s) until every flow has delivered `count` more probes than when called:
        traffic carried after a failover, measured, not slept for."""
        from bondlab.util.wait import until

        base = self.delivered()

        def enough():
            now = self.delivered()
            return now if all(now[name] - base[name] >= count for name in base) else None

        return until(enough, timeout, f"{count} more probes delivered on every flow", interval=0.05)

    def stop(self) -> None:
        """Stop the probes, read what they recorded and judge the expectations lab.expect() deferred to
        now (outage, lost, ...): a failing one raises runner.ExpectationFailed."""
        self._need(running=True)
        self.lab.run.stop_traffic(self.failures)
        _raise(self.failures)

    def _need(self, running: bool):
        from bondlab.world.labstate import LabError

        tr = self.running
        if tr is None:
            raise LabError("no traffic: call traffic.start() first")
        if running and not tr.procs:
            raise LabError("the traffic has stopped")
        if not running and not tr.stopped:
            raise LabError("the figures come after traffic.stop()")
        return tr

    def _action(self, after) -> int:
        """The index of an action (a record from lab.act/cut/restore) among the windows; -1: the start."""
        if after is None:
            return -1
        for index, action in enumerate(self.lab.run.actions):
            if action is after:
                return index
        from bondlab.world.labstate import LabError

        raise LabError(
            f"{getattr(after, 'text', after)!r} opens no traffic window (not an action, or `wait`)"
        )

    def figures(self, after=None) -> dict:
        """Flow name -> traffic.Window over the window of the action `after` (to the next action or the end;
        None: from the start): sent, delivered, lost, duplicated, reordered, outage_ms, per_slave (tapped
        switch port label -> probes it carried), stall_ms (the sender's longest pause)."""
        self._need(running=False)
        index = self._action(after)
        return {flow.name: self.lab.run.window_of(flow, index) for flow in self.lab.run.flows}

    def window(self, after=None, flow: Optional[str] = None):
        """One flow's traffic.Window (the only flow, or the one named `A -> B`)."""
        from bondlab.world.labstate import LabError

        figures = self.figures(after)
        if flow is None and len(figures) != 1:
            raise LabError(f"name the flow: one of {', '.join(figures)}")
        name = flow or next(iter(figures))
        if name not in figures:
            raise LabError(f"no flow {name!r} (flows: {', '.join(figures)})")
        return figures[name]

    def expect(self, after=None, **expectations) -> str:
        """Judge traffic expectations (outage, lost, spread, carriedBy, garp, lacpdu; as in a scenario, on
        every flow or the one `flow:` names) over the window of the action `after`, as the YAML runner does:
        a bound that a sender stall leaves open raises runner.MeasurementError, a failure
        runner.ExpectationFailed. Returns what was seen."""
        from bondlab.run import runner
        from bondlab.world.labstate import LabError

        self._need(running=False)
        wrong = [kind for kind in expectations if kind not in runner.DEFERRED]
        if wrong:
            raise LabError(f"not a traffic expectation: {', '.join(wrong)} (use lab.expect)")
        step, sr = self.lab._step("expect", expectations)
        sr.action = self._action(after)
        return "; ".join(f"{kind}: {self.lab.run.judge(sr, kind, args)}" for kind, args in step.args.items())

    def failovers(self) -> list:
        """Per link-changing action and bonded pod: {action, pod, garp_ms, event_ms}, when the kernel failed
        over, from the action's acknowledgement (the runner's failover table)."""
        from bondlab.run import runner

        self._need(running=False)
        return runner._failovers(self.lab.run)

    def close(self) -> None:
        if self.running:
            self.running.kill()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


# -- pytest --------------------------------------------------------------------------------------------
def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "lab(*files, yaml=TEXTS, backend='veth', pods=None, plugin=None, pod=None): the input of the `lab` "
        "fixture (bondlab.pytest.fixtures); files are relative to the test file",
    )


def _ours(item) -> bool:
    """Does the item use one of this module's kernel fixtures (directly or through another fixture)?"""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        getattr(fixturedef.func, "__module__", None) == __name__
        for name in KERNEL_FIXTURES
        for fixturedef in info.name2fixturedefs.get(name, ())
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    """Before bondlab.pytest.delegate decides what runs in the lab VM, and before -m selects."""
    for item in items:
        if _ours(item) and not item.get_closest_marker("kernel"):
            item.add_marker(pytest.mark.kernel)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """A test on these fixtures whose failure is a measurement error (runner.MeasurementError: a starved
    probe sender or runner could hide what was asked) runs again, fixtures and all, as a YAML scenario does
    (runner.ATTEMPTS in all); the dropped attempts are a section of the final report. Tests the lab VM
    runs are left to the delegate here (they run again inside it)."""
    if not _ours(item):
        return None
    delegate = item.config.pluginmanager.get_plugin("bondlab-delegate")
    if delegate is not None and item.nodeid in delegate.items:
        return None
    from _pytest.runner import runtestprotocol

    from bondlab.run.runner import ATTEMPTS

    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    dropped = []
    for attempt in range(1, ATTEMPTS + 1):
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
        blind = [r.bondlab_measurement_error for r in reports if getattr(r, "bondlab_measurement_error", "")]
        if not blind or attempt == ATTEMPTS:
            break
        dropped.append(f"attempt {attempt}: {blind[0]}")
    for report in reports:
        if dropped and report.when == "call":
            report.sections.append(
                ("bondlab: attempts run again after measurement errors", "\n".join(dropped))
            )
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "call" and call.excinfo is not None and _ours(item):
        from bondlab.run.runner import MeasurementError

        if call.excinfo.errisinstance(MeasurementError):
            report.bondlab_measurement_error = str(call.excinfo.value)
    return report


class _Spec:
    def __init__(self, request) -> None:
        marker = request.node.get_closest_marker("lab")
        args, kwargs = (marker.args, marker.kwargs) if marker else ((), {})
        unknown = set(kwargs) - {"yaml", "backend", "pods", "plugin", "pod"}
        if unknown:
            pytest.fail(f"@pytest.mark.lab: unknown argument(s) {', '.join(sorted(unknown))}", pytrace=False)
        base = request.node.path.parent
        self.files = [str(base / f) for f in args]
        self.yaml = kwargs.get("yaml", ())
        self.backend = kwargs.get("backend", "veth")
        self.pods, self.plugin, self.pod = kwargs.get("pods"), kwargs.get("plugin"), kwargs.get("pod")
        self.subject = request.node.nodeid
        self.given = bool(marker)


@pytest.fixture
def topology(request):
    """The world the `lab` fixture builds: the input's BondLab document, else derived from its objects.
    Override this fixture (return a bondlab.model.topology.Topology) to build the world in Python."""
    from bondlab import deploy

    spec = _Spec(request)
    if not spec.given:
        pytest.fail("the lab fixture needs @pytest.mark.lab(FILES..., yaml=...) or a topology fixture")
    paths, texts = _inputs(spec.files, spec.yaml, spec.subject)
    return deploy.prepare(paths, backend=spec.backend, texts=texts).topology


@pytest.fixture
def lab(request, topology):
    """A Lab deployed from the test's `lab` marker on `topology`; destroyed after the test. The teardown
    fails the test if it had errors or left anything the lab owned."""
    spec = _Spec(request)
    world = Lab.deploy(
        spec.files,
        spec.yaml,
        topology=topology,
        backend=spec.backend,
        plugin=spec.plugin,
        pods=spec.pods,
        subject=spec.subject,
    )
    try:
        yield world
    finally:
        errors = world.destroy()
        if errors:
            pytest.fail(f"lab {world.name}: teardown: " + "; ".join(errors), pytrace=False)


@pytest.fixture
def pod(request, lab):
    """The test's pod (the marker's `pod=`, else the lab's only pod): a Pod handle."""
    name = _Spec(request).pod
    if name is None:
        if len(lab.pods) != 1:
            pytest.fail(
                f"the lab has pods {', '.join(lab.pods) or 'none'}: name one with @pytest.mark.lab(pod=)"
            )
        name = lab.pods[0]
    return lab.pod(name)


@pytest.fixture
def traffic(lab):
    """The lab's Probes: start(flows), wait_delivered(n), stop(), figures/window/expect/failovers."""
    yield lab.traffic
    lab.traffic.close()


@pytest.fixture
def host(pod):
    """testinfra host of the test's pod (netns://NAME or docker://NAME)."""
    return pod.host
