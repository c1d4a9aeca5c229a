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

Fixtures (function scope), on the Python API of pytest.api:
- topology: the world `lab` builds (a model.topology.Topology: the input's BondLab document, else derived
  from it); override it in a test module to build one in Python;
- lab: an api.Lab, deployed from the marker's input on `topology`, destroyed after the test; the teardown
  fails the test if anything the lab owned (netns, link) is left;
- pod: an api.Pod handle (exec, links, bond state) of the test's pod; others by name with lab.pod(NAME);
- traffic: the lab's probes.Probes (the scenario runner's probe helpers: flows, per-slave taps, figures);
- host: a testinfra host of that pod (`netns://NAME`, or `docker://NAME` for docker pods); it stands in for
  pytest-testinfra's own `host` fixture.

As with a YAML scenario, a test whose failure is a measurement error (traffic.verdict.MeasurementError) runs
again with fresh fixtures, under the same policy (run.verdicts.RETRY). Every test that uses lab, pod,
traffic or host is marked `kernel` at collection, so on a host that cannot bond it runs in the lab VM's
pytest session with the other kernel tests.
"""

from __future__ import annotations

import pytest

from bondlab.pytest import api

KERNEL_FIXTURES = ("lab", "pod", "traffic", "host")
OURS = pytest.StashKey[bool]()  # the item uses this module's kernel fixtures (set at collection)
FAILED = pytest.StashKey[Exception]()  # what the item's call raised, when an expectation failed


# -- hooks ---------------------------------------------------------------------------------------------
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
        if _ours(item):
            item.stash[OURS] = True
            if not item.get_closest_marker("kernel"):
                item.add_marker(pytest.mark.kernel)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """A test on these fixtures whose failure is a measurement error runs again with fresh fixtures, as a
    YAML scenario does (run.verdicts.RETRY); the dropped attempts are a section of the final report. Tests
    the lab VM runs are left to the delegate here (they run again inside it). Public pytest API only: each
    attempt is a fresh Function of the same test, run through the runtest hooks."""
    if not item.stash.get(OURS, False):
        return None
    delegate = item.config.pluginmanager.get_plugin("bondlab-delegate")
    if delegate is not None and item.nodeid in delegate.items:
        return None
    from bondlab.run.verdicts import RETRY

    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    dropped, attempt_item = [], item
    for attempt in range(1, RETRY.attempts + 1):
        reports = [_phase(attempt_item, "setup")]
        if reports[0].passed:
            reports.append(_phase(attempt_item, "call"))
        errors = [attempt_item.stash[FAILED]] if FAILED in attempt_item.stash else []
        again = attempt < RETRY.attempts and RETRY.wanted(errors)
        fresh = _fresh(item) if again else None
        # a dropped attempt tears down up to the fresh attempt (its function fixtures), the last one up to
        # the real next item
        reports.append(_phase(attempt_item, "teardown", nextitem=fresh or nextitem))
        if not again:
            break
        dropped.append(f"attempt {attempt}: {errors[0]}")
        attempt_item = fresh
    for report in reports:
        if dropped and report.when == "call":
            report.sections.append(
                ("bondlab: attempts run again after measurement errors", "\n".join(dropped))
            )
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def _fresh(item):
    """The same test as a new Function (fresh fixtures): the public way to run a test again."""
    return pytest.Function.from_parent(
        item.parent,
        name=item.name,
        callspec=getattr(item, "callspec", None),
        callobj=item.obj,
        originalname=item.originalname,
    )


def _phase(item, when: str, **kwargs):
    """One runtest phase of an item (setup, call, teardown) through its hook; its report."""
    hook = getattr(item.ihook, f"pytest_runtest_{when}")
    call = pytest.CallInfo.from_call(
        lambda: hook(item=item, **kwargs), when=when, reraise=(pytest.exit.Exception, KeyboardInterrupt)
    )
    return item.ihook.pytest_runtest_makereport(item=item, call=call)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "call" and call.excinfo is not None:
        from bondlab.traffic.verdict import ExpectationFailed

        if call.excinfo.errisinstance(ExpectationFailed):
            item.stash[FAILED] = call.excinfo.value  # its type decides a retry (run.verdicts.RETRY)
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
    return deploy.prepare(api._documents(spec.files, spec.yaml, spec.subject), backend=spec.backend).topology


@pytest.fixture
def lab(request, topology):
    """A Lab deployed from the test's `lab` marker on `topology`; destroyed after the test. The teardown
    fails the test if it had errors or left anything the lab owned."""
    spec = _Spec(request)
    world = api.Lab.deploy(
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
