"""spec.requires (bondlab.model.requirements): read with file and line, judged against what a kernel has
(capabilities.Capabilities as a probe would fill it); a kernel without it skips the scenario with the
reason and deploys nothing; every report says which kernel a result came from."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from bondcni.recent_options import RELEASES, release_tuple
from bondlab import capabilities
from bondlab.capabilities import Capabilities, Verdict
from bondlab.model import derive, k8s, scenario
from bondlab.model.requirements import Requirements
from bondlab.model.yamlsrc import SourceError
from bondlab.report import render
from bondlab.run import runner
from bondlab.run.results import ScenarioResult
from bondlab.util.paths import REPO

HEAD = """apiVersion: bondlab/v1
kind: Scenario
metadata: {name: t}
spec:
"""
STEPS = "  steps: [{wait: 1s}]\n"
BONDS = {"bond": Verdict(True), "netdevsim": Verdict(False, "no /sys/bus/netdevsim")}
DEBIAN_61 = Capabilities(
    "6.1.0-57-amd64", BONDS, frozenset({"arp_validate", "miimon", "slave:queue_id", "slave:prio"})
)


def load(tmp_path, body: str):
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + body + STEPS)
    return scenario.load(str(path))


def error(tmp_path, body: str) -> str:
    with pytest.raises(SourceError) as got:
        load(tmp_path, body)
    return str(got.value)


@pytest.mark.parametrize(
    "release,numbers",
    [
        ("6.1.0-57-amd64", (6, 1, 0)),
        ("6.12.118", (6, 12, 118)),
        ("6.12.118-rt-amd64", (6, 12, 118)),
        ("6.1.0+deb13", (6, 1, 0)),
        ("5.17", (5, 17)),
        ("6.12-rc3", (6, 12)),
    ],
)
def test_a_release_is_its_leading_dotted_numbers(release, numbers):
    assert release_tuple(release) == numbers


@pytest.mark.parametrize(
    "running,needed,met",
    [
        ("6.1.0-57-amd64", "6.0", True),
        ("6.1.0-57-amd64", "6.1", True),
        ("6.1.0-57-amd64", "6.9", False),
        ("6.12.118", "6.12.30", True),
        ("6.12.18", "6.12.30", False),  # numbers, not text: 18 < 30
        ("6.10.2", "6.9", True),  # 10 > 9
        ("5.15.0-91-generic", "5.17", False),
    ],
)
def test_a_minimum_release_is_compared_by_numbers(running, needed, met):
    unmet = Requirements(kernel=needed).unmet(Capabilities(running, BONDS))
    assert (unmet == "") == met
    assert met or unmet == f"needs kernel {needed} or later: this is {running}"


def test_requires_is_typed_with_its_line(tmp_path):
    scen = load(
        tmp_path,
        '  description: x\n  requires: {kernel: "6.0", bondingOptions: [arp_missed_max, slave:prio],'
        " netdevsim: true}\n",
    )
    assert scen.requires == Requirements(
        f"{tmp_path}/s.yaml:6", "6.0", ("arp_missed_max", "slave:prio"), netdevsim=True
    )
    assert not load(tmp_path, "").requires  # needs nothing


@pytest.mark.parametrize(
    "body,said",
    [
        (
            "  requires: {kernel: 6.10}\n",
            'expected string, got float (a minimum kernel release in quotes, e.g. "6.0"',
        ),
        ('  requires: {kernel: "6.x"}\n', "'6.x' does not match: a minimum kernel release in quotes"),
        (
            "  requires: {bondingOptions: [arpMissedMax]}\n",
            "'arpMissedMax' does not match: a bonding option by",
        ),
        ("  requires: {bondingOptions: []}\n", "expected at least 1 item(s)"),
        ("  requires: {netdevsim: yes please}\n", "expected boolean"),
        (
            "  requires: {bonding: [miimon]}\n",
            "unknown key 'bonding' (expected one of: kernel, bondingOptions,",
        ),
        ("  requires: [netdevsim]\n", "expected object"),
    ],
)
def test_a_bad_requirement_names_file_line_and_what_was_expected(tmp_path, body, said):
    text = error(tmp_path, body)
    assert text.startswith(f"{tmp_path}/s.yaml:5: Scenario t: spec.requires"), text
    assert said in text, text


def test_an_option_the_kernel_lacks_says_where_it_looked():
    needs = Requirements("s.yaml:5", bonding_options=("miimon", "arp_missed_max", "slave:prio", "slave:nope"))
    assert needs.unmet(DEBIAN_61) == (
        "needs bonding option arp_missed_max: kernel 6.1.0-57-amd64 has no "
        "/sys/class/net/*/bonding/arp_missed_max nor a netlink attribute for it; needs bonding option "
        "slave:nope: kernel 6.1.0-57-amd64 has no /sys/class/net/*/bonding_slave/nope nor a netlink "
        "attribute for it"
    )


def test_a_kernel_that_cannot_bond_and_netdevsim_say_why():
    cannot = Capabilities("6.1.0", {"bond": Verdict(False, "the kernel has no bonding driver")})
    assert Requirements(bonding_options=("miimon",)).unmet(cannot) == (
        "needs bonding option miimon: kernel 6.1.0 cannot bond: the kernel has no bonding driver"
    )
    assert Requirements(netdevsim=True).unmet(DEBIAN_61) == "needs netdevsim: no /sys/bus/netdevsim"


def test_the_kernel_label_names_the_run_s_kernel(monkeypatch):
    release = capabilities.os.uname().release
    monkeypatch.delenv(capabilities.KERNEL_NAME_ENV, raising=False)
    assert capabilities.kernel_label() == release
    monkeypatch.setenv(capabilities.KERNEL_NAME_ENV, "debian-6.1")
    assert capabilities.kernel_label() == f"debian-6.1 ({release})"
    assert ScenarioResult("s.yaml", "s").kernel == f"debian-6.1 ({release})"


def test_an_unmet_requirement_skips_before_anything_is_made(tmp_path, monkeypatch):
    """The skip is decided from the probe's capabilities alone: the lab is never prepared."""
    scen = load(tmp_path, "  requires: {bondingOptions: [arp_missed_max]}\n")
    monkeypatch.setattr(capabilities, "probe", lambda: DEBIAN_61)
    monkeypatch.setattr(runner.deploy, "prepare", lambda *a, **k: pytest.fail("the lab was prepared"))
    got = runner.run_scenario(scen, plugin="bin/bond")
    assert got.status == "skipped" and got.ok and got.steps == []
    assert got.message == (
        f"{tmp_path}/s.yaml:5: needs bonding option arp_missed_max: "
        "kernel 6.1.0-57-amd64 has no /sys/class/net/*/bonding/arp_missed_max nor a netlink attribute for it"
    )


def test_reports_show_a_skip_its_reason_and_the_kernel(tmp_path):
    skipped = ScenarioResult(
        "s.yaml", "s", status="skipped", message="s.yaml:5: needs kernel 99.0", kernel="k1"
    )
    passed = ScenarioResult("p.yaml", "p", status="passed", kernel="k1")
    text = render.console([skipped, passed])
    assert (
        "## SKIP   s  (s.yaml, 0.0 s, plugin , kernel k1)" in text and "  s.yaml:5: needs kernel 99.0" in text
    )
    assert text.endswith("2 scenario(s): 1 passed, 1 skipped")
    paths = render.write_all([skipped, passed], str(tmp_path))
    case = ET.parse(paths["junit"]).getroot().find("testsuite/testcase")
    assert case.find("skipped").get("message") == "s.yaml:5: needs kernel 99.0"
    assert case.find("properties/property").attrib == {"name": "kernel", "value": "k1"}
    assert [r["kernel"] for r in json.load(open(paths["json"]))] == ["k1", "k1"]
    index = open(paths["html"]).read()
    assert "<p>kernel: k1</p>" in index and "<th>kernel" not in index  # one kernel: one line
    passed.kernel = "k2"
    index = open(render.write_all([skipped, passed], str(tmp_path))["html"]).read()
    assert "<th>kernel" in index and "<td>k1</td>" in index and "<td>k2</td>" in index


def test_the_library_s_requirements_hold_on_the_lab_kernel():
    """Every library scenario runs on the lab's 6.12 kernel: none requires more than it has."""
    lab = Capabilities(
        "6.12.118",
        BONDS | {"netdevsim": Verdict(True)},
        frozenset({"arp_missed_max", "ns_ip6_target", "lacp_active", "coupled_control", "slave:prio"}),
    )
    for path in scenario.discover([str(REPO / "scenarios")]):
        assert scenario.load(path).requires.unmet(lab) == "", path


def _options_used(plugin: dict) -> set:
    """The kernel options (capabilities' names) of the 5.15+ fields a bond config sets
    (bondcni.recent_options.RELEASES: netlink name -> config field)."""
    used = set()
    for key, (field, _release) in RELEASES.items():
        option = capabilities.NETLINK_NAMES.get(key, key)
        if field.startswith("links[]."):
            links = [link for link in plugin.get("links") or [] if isinstance(link, dict)]
            used |= {capabilities.SLAVE + option for link in links if field[len("links[].") :] in link}
        elif field in plugin:
            used.add(option)
    return used


def test_every_library_scenario_requires_the_recent_options_its_bonds_set():
    """So that on a kernel without one the scenario is skipped, not failed."""
    missing = []
    for path in scenario.discover([str(REPO / "scenarios")]):
        scen = scenario.load(path)
        for nad in k8s.classify([d for d in scen.documents if d.get("kind") != "Scenario"]).nads.values():
            for plugin in derive.plugins(nad.config):
                if plugin.get("type") == "bond":
                    lacking = _options_used(plugin) - set(scen.requires.bonding_options)
                    missing += [f"{path}: requires: {{bondingOptions: [{o}]}}" for o in sorted(lacking)]
    assert not missing, "\n".join(missing)
