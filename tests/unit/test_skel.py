"""The dispatcher: env table per command, CNI_IFNAME/CNI_CONTAINERID validation, errors as spec JSON."""

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bondcni import errors, skel
from bondcni.errors import CniError

PLUGIN_DIR = Path(skel.__file__).resolve().parents[1]
CONF = json.dumps({"cniVersion": "1.0.0", "name": "n", "type": "bond"}).encode()
FULL_ENV = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "c1",
    "CNI_NETNS": "/var/run/netns/x",
    "CNI_IFNAME": "bond0",
    "CNI_PATH": "/usr/lib/cni",
}


def run(env, stdin=CONF, handlers=None):
    out, err = io.StringIO(), io.StringIO()
    calls = []

    def ok(args, log):
        calls.append(args)
        return {"cniVersion": "1.0.0"} if args.command == "ADD" else None

    table = handlers or dict.fromkeys(("ADD", "DEL", "CHECK", "GC", "STATUS"), ok)
    rc = skel.dispatch(table, env, io.BytesIO(stdin), out, err)
    return rc, out.getvalue(), err.getvalue(), calls


@pytest.mark.parametrize(
    "command,required",
    [
        ("ADD", ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"]),
        ("DEL", ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"]),
        ("CHECK", ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"]),
        ("GC", ["CNI_PATH"]),
        ("STATUS", ["CNI_PATH"]),
    ],
)
def test_env_table(command, required):
    rc, out, _, calls = run({"CNI_COMMAND": command})
    assert rc == 1 and not calls
    want = {"cniVersion": "1.0.0", "code": 4, "msg": f"required env variables [{','.join(required)}] missing"}
    assert json.loads(out) == want  # the error speaks the config's version


def test_no_command():
    rc, out, _, _ = run({})
    want = {"cniVersion": "1.1.0", "code": 4, "msg": "required env variables [CNI_COMMAND] missing"}
    assert json.loads(out) == want


def test_unknown_command():
    rc, out, _, _ = run(dict(FULL_ENV, CNI_COMMAND="FROB"))
    want = {"cniVersion": "1.0.0", "code": 4, "msg": "unknown CNI_COMMAND: FROB"}
    assert rc == 1 and json.loads(out) == want


@pytest.mark.parametrize(
    "stdin,answered",
    [
        (b'{"cniVersion": "0.4.0"}', "0.4.0"),  # "cniVersion: The value of cniVersion specified on input"
        (b'{"cniVersion": "0.2.0"}', "1.1.0"),  # one we do not speak: our newest
        (b"garbage", "1.1.0"),
        (b"", "1.1.0"),
    ],
)
def test_version_answers_in_the_version_asked_and_ignores_env(stdin, answered):
    rc, out, _, _ = run({"CNI_COMMAND": "VERSION"}, stdin=stdin)
    assert rc == 0
    assert json.loads(out) == {
        "cniVersion": answered,
        "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    }


def test_version_does_not_wait_for_a_stdin_nobody_writes(tmp_path):
    """A person running VERSION by hand (stdin a terminal or an idle pipe) gets an answer, not a hang."""
    read_end, write_end = os.pipe()
    try:
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "bondcni"],
            stdin=read_end,
            capture_output=True,
            env={"CNI_COMMAND": "VERSION", "PYTHONPATH": str(PLUGIN_DIR)},
            timeout=30,
        )
        assert time.monotonic() - started < 20
    finally:
        os.close(read_end)
        os.close(write_end)
    assert proc.returncode == 0 and json.loads(proc.stdout)["cniVersion"] == "1.1.0"


@pytest.mark.parametrize(
    "ifname,msg",
    [
        ("a" * 16, "interface name is too long"),
        (".", "interface name is . or .."),
        ("..", "interface name is . or .."),
        ("a/b", "interface name contains / or : or whitespace characters"),
        ("a:b", "interface name contains / or : or whitespace characters"),
        ("a b", "interface name contains / or : or whitespace characters"),
        ("a\tb", "interface name contains / or : or whitespace characters"),
    ],
)
def test_ifname_validation(ifname, msg):
    rc, out, _, calls = run(dict(FULL_ENV, CNI_IFNAME=ifname))
    got = json.loads(out)
    assert rc == 1 and not calls and got["code"] == 4 and got["msg"] == msg


def test_ifname_15_chars_ok():
    rc, _, _, calls = run(dict(FULL_ENV, CNI_IFNAME="a" * 15))
    assert rc == 0 and calls[0].ifname == "a" * 15


@pytest.mark.parametrize("cid", ["-abc", "a/b", "a b", "ä", "abc\n", "abc\n\n", "a\x00"])
def test_container_id_invalid(cid):
    rc, out, _, _ = run(dict(FULL_ENV, CNI_CONTAINERID=cid))
    assert json.loads(out)["code"] == errors.INVALID_ENV


def test_container_id_ok_chars():
    rc, _, _, calls = run(dict(FULL_ENV, CNI_CONTAINERID="A0_b.c-d"))
    assert rc == 0 and calls[0].container_id == "A0_b.c-d"


def test_validate_container_id_empty_is_code_3():
    with pytest.raises(CniError) as info:
        skel.validate_container_id("")
    assert info.value.code == errors.UNKNOWN_CONTAINER


def test_add_passes_args():
    rc, out, _, calls = run(dict(FULL_ENV, CNI_ARGS="IgnoreUnknown=true;K8S_POD_NAME=x"))
    assert rc == 0 and json.loads(out) == {"cniVersion": "1.0.0"}
    a = calls[0]
    assert (a.command, a.container_id, a.netns, a.ifname, a.path, a.stdin) == (
        "ADD",
        "c1",
        "/var/run/netns/x",
        "bond0",
        "/usr/lib/cni",
        CONF,
    )
    assert a.args.startswith("IgnoreUnknown")


def test_stdin_is_decoded_and_its_version_checked_once(monkeypatch):
    """The dispatcher decodes the config and checks its cniVersion; the command parses what it decoded."""
    from bondcni import config, fields

    links = [{"name": "net1"}, {"name": "net2"}]
    conf = {"cniVersion": "1.0.0", "name": "n", "type": "bond", "mode": "active-backup", "links": links}
    decoded, checked = [], []
    monkeypatch.setattr(fields, "loads", lambda raw: decoded.append(raw) or json.loads(raw))
    check_version = config.check_version
    monkeypatch.setattr(config, "check_version", lambda obj: checked.append(obj) or check_version(obj))

    def add(args, log):
        return {"cniVersion": config.parse_obj(args.config, args.cni_version).cni_version}

    rc, out, _, _ = run(FULL_ENV, stdin=json.dumps(conf).encode(), handlers={"ADD": add})
    assert rc == 0 and json.loads(out) == {"cniVersion": "1.0.0"}
    assert len(decoded) == 1 and checked == [conf]


@pytest.mark.parametrize("command,allowed", [("CHECK", "0.4.0"), ("GC", "1.1.0"), ("STATUS", "1.1.0")])
def test_command_needs_version(command, allowed):
    old = json.dumps({"cniVersion": "0.3.1", "name": "n"}).encode()
    rc, out, _, calls = run(dict(FULL_ENV, CNI_COMMAND=command), stdin=old)
    got = json.loads(out)
    assert rc == 1 and not calls
    assert got["code"] == 1 and got["msg"] == f"config version does not allow {command}"
    new = json.dumps({"cniVersion": allowed, "name": "n"}).encode()
    rc, _, _, calls = run(dict(FULL_ENV, CNI_COMMAND=command), stdin=new)
    assert rc == 0 and calls


def test_unsupported_version_is_code_1():
    rc, out, _, _ = run(FULL_ENV, stdin=json.dumps({"cniVersion": "0.2.0"}).encode())
    assert json.loads(out)["code"] == 1


def test_undecodable_is_code_6():
    rc, out, _, _ = run(FULL_ENV, stdin=b"{nope")
    assert json.loads(out)["code"] == 6


def test_del_is_not_stopped_by_a_bad_config():
    rc, _, _, calls = run(dict(FULL_ENV, CNI_COMMAND="DEL", CNI_NETNS=""), stdin=b'{"cniVersion":"9.9.9"}')
    assert rc == 0 and calls


def test_handler_error_keeps_its_code():
    def boom(args, log):
        raise CniError(errors.TRY_AGAIN_LATER, "busy", "try later")

    rc, out, err, _ = run(FULL_ENV, handlers={"ADD": boom})
    want = {"cniVersion": "1.0.0", "code": 11, "msg": "busy", "details": "try later"}
    assert rc == 1 and json.loads(out) == want
    assert "code 11: busy" in err


def test_unexpected_exception_is_999_and_traceback_only_on_stderr(tmp_path):
    logfile = tmp_path / "bond.log"

    def boom(args, log):
        raise ZeroDivisionError("oops")

    rc, out, err, _ = run(dict(FULL_ENV, BONDCNI_LOG_FILE=str(logfile)), handlers={"ADD": boom})
    assert rc == 1
    want = {"cniVersion": "1.0.0", "code": 999, "msg": "internal error: ZeroDivisionError: oops"}
    assert json.loads(out) == want
    assert "Traceback" not in out and "Traceback" in err and "Traceback" in logfile.read_text()


def test_error_version_of_an_unreadable_config_is_ours():
    rc, out, _, _ = run(FULL_ENV, stdin=b"{nope")
    assert json.loads(out)["cniVersion"] == "1.1.0"


def test_log_file_comes_from_the_node_settings(tmp_path):
    logfile = tmp_path / "x.log"
    settings = tmp_path / "bond.conf"
    settings.write_text(json.dumps({"logFile": str(logfile)}))
    settings.chmod(0o600)

    def boom(args, log):
        raise CniError(7, "bad\nforged 2026-01-01T00:00:00 bond error line")

    run(dict(FULL_ENV, BONDCNI_SETTINGS=str(settings)), handlers={"ADD": boom})
    lines = logfile.read_text().splitlines()
    assert len(lines) == 1 and "ADD c1 bond0: code 7: bad\\nforged" in lines[0]  # one record, one line
    assert logfile.stat().st_mode & 0o777 == 0o600


def test_log_file_is_never_followed_through_a_symlink(tmp_path):
    target = tmp_path / "target"
    target.write_text("")
    (tmp_path / "x.log").symlink_to(target)
    rc, out, err, _ = run(dict(FULL_ENV, BONDCNI_LOG_FILE=str(tmp_path / "x.log")), handlers={"ADD": _fail})
    assert target.read_text() == "" and "not written" in err


def test_log_file_in_a_directory_others_can_write_is_not_used(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o1777)
    rc, out, err, _ = run(dict(FULL_ENV, BONDCNI_LOG_FILE=str(shared / "x.log")), handlers={"ADD": _fail})
    assert not (shared / "x.log").exists() and "not written" in err


def _fail(args, log):
    raise CniError(7, "bad")


@pytest.mark.parametrize("text", ["a\nb", "a\rb", "a\u2028b", "a\x85b", "a\x00b", "a\x1b[31mb"])
def test_one_line_escapes_every_line_break_and_control(text):
    line = skel.one_line(text)
    assert line.isprintable() and len(line.splitlines()) == 1 and line.startswith("a") and line.endswith("b")


def test_netns_same_as_own_is_code_8():
    rc, out, _, calls = run(dict(FULL_ENV, CNI_NETNS="/proc/self/ns/net"))
    assert json.loads(out)["code"] == errors.INVALID_NETNS and not calls
    rc, _, _, calls = run(dict(FULL_ENV, CNI_NETNS="/proc/self/ns/net", CNI_NETNS_OVERRIDE="1"))
    assert rc == 0 and calls


def test_error_json_shape():
    e = CniError(7, "m", "d")
    assert json.loads(e.to_json("1.0.0")) == {"cniVersion": "1.0.0", "code": 7, "msg": "m", "details": "d"}
    assert json.loads(CniError(4, "m").to_json()) == {"code": 4, "msg": "m"}
