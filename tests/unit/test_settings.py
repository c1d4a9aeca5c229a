"""Node settings (the node's, never a NAD's), the host-link name patterns, and the stdlib-light helpers."""

import json

import pytest

from bondcni import config, errors, fields, host_policy, inet, jsonio, settings
from bondcni.errors import CniError
from bondcni.record import Record


def write(tmp_path, obj, mode=0o600):
    path = tmp_path / "bond.conf"
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    path.chmod(mode)
    return {"BONDCNI_SETTINGS": str(path)}


def test_defaults_without_a_file(tmp_path):
    node = settings.load({"BONDCNI_SETTINGS": str(tmp_path / "none")})
    assert node.state_dir == "/var/lib/cni/bond" and node.log_file == "" and node.ipam_timeout == 60
    assert node.host_links.allow == () and not node.host_links.only_allowed and node.warnings == ()


def test_a_full_file(tmp_path):
    env = write(
        tmp_path,
        {
            "stateDir": "/srv/bond",
            "logFile": "/var/log/b.log",
            "logLevel": "debug",
            "requireDistinctPF": True,
            "ipamTimeout": 5,
            "hostLinks": {"allow": ["ens*"], "onlyAllowed": True, "allowPciAddresses": ["0000:3B:*"]},
        },
    )
    node = settings.load(env)
    assert (node.state_dir, node.log_file, node.log_level, node.require_distinct_pf, node.ipam_timeout) == (
        "/srv/bond",
        "/var/log/b.log",
        "debug",
        True,
        5.0,
    )
    assert node.host_links == settings.HostLinkPolicy(("ens*",), True, ("0000:3b:*",))


def test_environment_overrides_the_file(tmp_path):
    env = write(tmp_path, {"stateDir": "/srv/bond"})
    node = settings.load(dict(env, BONDCNI_STATE_DIR="/tmp/s", BONDCNI_LOG_FILE="/tmp/l", BONDCNI_DEBUG="1"))
    assert (node.state_dir, node.log_file, node.log_level) == ("/tmp/s", "/tmp/l", "debug")


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602])
def test_a_file_others_can_write_is_ignored(tmp_path, mode):
    node = settings.load(write(tmp_path, {"stateDir": "/srv/evil"}, mode))
    assert node.state_dir == "/var/lib/cni/bond" and "writable by group or others" in node.warnings[0]


def test_a_symlinked_file_is_ignored(tmp_path):
    real = tmp_path / "real"
    real.write_text(json.dumps({"stateDir": "/srv/evil"}))
    real.chmod(0o600)
    (tmp_path / "link").symlink_to(real)
    node = settings.load({"BONDCNI_SETTINGS": str(tmp_path / "link")})
    assert node.state_dir == "/var/lib/cni/bond" and node.warnings


@pytest.mark.parametrize(
    "obj,field",
    [
        ({"stateDir": "relative/dir"}, "stateDir"),
        ({"logFile": "/var/../etc/x"}, "logFile"),
        ({"logLevel": "loud"}, "logLevel"),
        ({"ipamTimeout": 0}, "ipamTimeout"),
        ({"hostLinks": {"allow": "eth*"}}, "hostLinks.allow"),
        ({"hostLinks": {"deny": []}}, "hostLinks"),
        ({"bogus": 1}, "bogus"),
        ("{nope", "not JSON"),
    ],
)
def test_a_root_file_that_does_not_parse_is_code_7(tmp_path, obj, field):
    with pytest.raises(CniError) as info:
        settings.load(write(tmp_path, obj))
    assert (
        info.value.code == errors.INVALID_CONFIG and field in info.value.msg and "bond.conf" in info.value.msg
    )


@pytest.mark.parametrize(
    "name,patterns,want",
    [
        ("ens2f0", ["ens*"], True),
        ("ens2f0", ["ens2f?"], True),
        ("eth0", ["ens*"], False),
        ("x", ["*"], True),
        ("a.b", ["a?b"], True),
        ("ab", ["a*b*"], True),
        ("abc", ["a*d"], False),
        ("", ["*"], True),
    ],
)
def test_name_patterns(name, patterns, want):
    assert host_policy.matches(name, patterns) is want


@pytest.mark.parametrize("key", ["stateDir", "logFile", "STATEDIR", "Logfile"])
def test_config_refuses_node_fields(key):
    conf = {
        "cniVersion": "1.0.0",
        "name": "n",
        "type": "bond",
        "mode": "active-backup",
        "links": [{"name": "a"}, {"name": "b"}],
        key: "/x",
    }
    with pytest.raises(CniError) as info:
        config.parse(json.dumps(conf).encode())
    assert info.value.code == 7 and "/etc/cni/net.d/bond.d/bond.conf" in info.value.msg


@pytest.mark.parametrize("value", ["net1\n", "0000:03:02.0\n", "bond-net\n"])
def test_names_are_whole_strings(value):
    assert not fields.is_ifname(value) and not fields.is_pci_address(value) and not fields.is_name(value)


def test_pci_links_handed_by_the_runtime_are_marked():
    conf = config.parse(
        json.dumps(
            {
                "cniVersion": "1.0.0",
                "name": "n",
                "type": "bond",
                "mode": "active-backup",
                "links": [{"pciAddress": "0000:03:02.0"}, {"pciAddress": "0000:04:02.0"}],
                "runtimeConfig": {"deviceID": "0000:04:02.0"},
            }
        ).encode()
    )
    assert [(lk.pci, lk.handed) for lk in conf.links] == [("0000:03:02.0", False), ("0000:04:02.0", True)]


def test_inet_matches_ipaddress():
    import ipaddress

    for text in ["10.0.0.5/24", "2001:DB8::1/64", "0.0.0.0/0", "::/0", "192.168.1.255/31"]:
        assert inet.normal_network(text) == str(ipaddress.ip_network(text, strict=False))
        assert inet.normal_interface(text) == str(ipaddress.ip_interface(text))
    for bad in ["1.2.3", "1.2.3.4/33", "::1%eth0", "", "1.2.3.4/-1", "1.2.3.4/ 8"]:
        with pytest.raises(ValueError):
            inet.normal_network(bad if "/" in bad else bad + "/8")


def test_jsonio_matches_json():
    for value in [{"a": [1, 2.5, "é\n\u2028", None, True]}, [], "x", 0]:
        text = json.dumps(value)
        assert jsonio.loads(text) == json.loads(text) and json.loads(jsonio.dumps(value)) == value
    for bad in [b"{", b"NaN", b"[1,]", b"", b"{} x", b"\xff"]:
        with pytest.raises(ValueError):
            jsonio.loads(bad)


def test_records_are_frozen():
    class Point(Record):
        x: int
        y: int = 2

    p = Point(1)
    assert (p.x, p.y, p.replace(y=5).y) == (1, 2, 5) and p == Point(1, 2) and p != Point(1, 3)
    with pytest.raises(AttributeError):
        p.x = 3
    with pytest.raises(TypeError):
        Point()
