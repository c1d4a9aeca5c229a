"""bin/bond's build: byte-identical twice, byte-code per minor, names its commit, sources as fallback."""

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import bondcni
from bondcni_build import archive, bond, sources

pytestmark = pytest.mark.build  # each test builds bin/bond or runs what was built


def _build(tmp_path, name, python=sys.executable):
    out = tmp_path / name / "bond"
    subprocess.run(
        [sys.executable, "-m", "bondcni_build.bond", "--output", str(out), "--python", python],
        check=True,
        capture_output=True,
        env=dict(os.environ, SOURCE_DATE_EPOCH="1700000000", BONDCNI_COMMIT="0123abc"),
    )
    return out


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("build"), "one")


def _run(path, *args, **env):
    return subprocess.run(
        [sys.executable, "-IS", str(path), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, **env),
        check=True,
    ).stdout


def test_two_builds_in_different_directories_are_byte_identical(artifact, tmp_path):
    again = _build(tmp_path, "two")
    assert hashlib.sha256(artifact.read_bytes()).hexdigest() == hashlib.sha256(again.read_bytes()).hexdigest()


def test_entries_are_sorted_with_fixed_times_and_modes(artifact):
    infos = zipfile.ZipFile(artifact).infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(2023, 11, 14, 22, 13, 20)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    head = artifact.read_bytes().split(b"\n", 1)[0]
    assert head.startswith(b"#!/usr/bin/python3 -IScimport sys;") and len(head) + 1 <= 127
    assert os.stat(artifact).st_mode & 0o777 == 0o755


def test_byte_code_of_the_building_minor_is_there_sourceless(artifact):
    names = set(zipfile.ZipFile(artifact).namelist())
    tag = "{}{}".format(*sys.version_info[:2])
    code = archive.read_packs(str(artifact))[tag]
    assert not any(n.startswith("py3") for n in names)
    import marshal

    assert code["bondcni"][0] is True and code["bondcni.skel"][0] is False
    assert marshal.loads(code["bondcni.skel"][1]).co_filename == "bondcni/skel.py"
    assert "bondcni/skel.py" in names
    assert not any(n.startswith("bondcni_build") for n in [*names, *code])  # build tooling stays behind
    assert "LICENSE" in names and "__main__.py" in names


def test_byte_code_has_the_future_flag_but_imports_no_future(artifact):
    """`from __future__ import annotations` is compiled in as its flag: no exec loads __future__."""
    import __future__

    import marshal

    code = archive.read_packs(str(artifact))["{}{}".format(*sys.version_info[:2])]
    skel = marshal.loads(code["bondcni.skel"][1])
    assert skel.co_flags & __future__.annotations.compiler_flag
    assert all("__future__" not in marshal.loads(c).co_names for _, c in code.values())


def test_each_minor_boots_from_its_compiled_boot_and_others_from_source(artifact):
    """No exec compiles the boot (a first compile() touches ~30-50 pages more): line 2 picks it compiled."""
    import marshal

    with open(artifact, "rb") as fh:
        fh.readline()
        assert fh.readline() == archive.SELECT.encode()
        boots = marshal.load(fh)
    tags = set(archive.read_packs(str(artifact)))
    assert set(boots) == tags | {""}
    code = marshal.loads(boots["{}{}".format(*sys.version_info[:2])])
    assert code.co_filename == "__boot__.py" and "_PackFinder" in code.co_names
    fallback = marshal.loads(boots[""])
    assert isinstance(fallback, str) and "enable(" in fallback and "_PackFinder" not in fallback
    compile(fallback, "fallback", "exec")


@pytest.mark.parametrize("request_text", ['{"cniVersion": "1.0.0"}', ""])
def test_the_version_exec_loads_neither_os_nor_future(artifact, request_text):
    argv = [sys.executable, "-X", "importtime", "-ISc", archive.LAUNCH_CODE, str(artifact)]
    env = {"CNI_COMMAND": "VERSION"}
    proc = subprocess.run(argv, input=request_text, capture_output=True, text=True, env=env, check=True)
    assert json.loads(proc.stdout)["cniVersion"] == ("1.0.0" if request_text else "1.1.0")
    loaded = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "bondcni.skel" in loaded and "zipimport" in loaded  # (zipimport: the interpreter's own start)
    assert not loaded & {"os", "posixpath", "_collections_abc", "__future__", "runpy", "json"}, sorted(loaded)


def test_version_names_the_commit(artifact):
    assert _run(artifact, "--version").split()[:4] == [
        "bond",
        bondcni.__version__,
        "commit",
        "0123abc",
    ]
    info = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-IS",
                "-c",
                "import sys; sys.path[:0] = [sys.argv[1]]; "
                "import json; from bondcni.buildinfo import build_info; print(json.dumps(build_info()))",
                str(artifact),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["buildInfo"]
    assert info["commit"] == "0123abc" and info["buildDate"] == "2023-11-14T22:13:20Z"
    assert "{}.{}".format(*sys.version_info[:2]) in info["pythonBytecode"]


def test_version_command_runs_from_byte_code_and_from_sources(artifact, tmp_path):
    answer = json.loads(_run(artifact, CNI_COMMAND="VERSION"))
    assert "1.0.0" in answer["supportedVersions"]
    # A minor without byte-code in the file imports the sources instead.
    with zipfile.ZipFile(artifact) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist()}
    stripped = tmp_path / "bond-sources"
    archive.write(str(stripped), "/usr/bin/python3 -IS", "f00d" * 16, {}, {}, entries, 1700000000)
    cache = str(tmp_path / "cache")
    assert json.loads(_run(stripped, CNI_COMMAND="VERSION", BONDCNI_BYTECODE_CACHE=cache)) == answer


def test_third_party_imports_are_found_by_reading_the_sources(tmp_path):
    (tmp_path / "a.py").write_text("import os\nfrom . import b\n\ndef f():\n    from yaml import safe_load\n")
    (tmp_path / "b.py").write_text("import json\nfrom bondcni import errors\n")
    assert sources.third_party_imports(str(tmp_path)) == {"yaml": "a.py"}


def _enable(artifact, cache):
    code = (
        "import sys; sys.path[:0] = [sys.argv[1]]; from bondcni._bytecode_cache import enable; "
        "print(enable(sys.argv[1], 'f00d' * 16))"
    )
    out = subprocess.run(
        [sys.executable, "-IS", "-c", code, str(artifact)],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, BONDCNI_BYTECODE_CACHE=str(cache)),
    )
    return out.stdout.strip()


def test_a_minor_without_byte_code_gets_a_private_cache_made_once(artifact, tmp_path):
    cache = tmp_path / "cache"
    made = _enable(artifact, cache)
    tag = "py{}{}".format(*sys.version_info[:2])
    assert made == str(cache / f"f00df00df00df00d-{tag}")
    assert (Path(made) / "bondcni" / "skel.py").is_file()
    assert list((Path(made) / "bondcni" / "__pycache__").glob("skel.*.pyc"))
    assert _enable(artifact, cache) == made  # found again, not rebuilt
    assert [p.name for p in cache.iterdir()] == [Path(made).name]


def test_a_cache_others_can_write_is_not_used(artifact, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o777)
    cache.chmod(0o777)
    assert _enable(artifact, cache) == ""
    assert list(cache.iterdir()) == []


def test_the_archive_runs_under_a_minor_it_has_no_byte_code_for(tmp_path):
    other = [p for m, (p, _) in bond.find_interpreters(()).items() if m != sys.version_info[:2]]
    if not other:
        pytest.skip("no second python3 minor on this machine")
    out = _build(tmp_path, "other", other[0])
    cache = tmp_path / "cache"
    answer = _run(out, CNI_COMMAND="VERSION", BONDCNI_BYTECODE_CACHE=str(cache))
    assert "supportedVersions" in answer
    assert [p.name.endswith("-py{}{}".format(*sys.version_info[:2])) for p in cache.iterdir()] == [True]


def test_the_kernel_runs_the_one_line_launcher(artifact):
    """Exec'd as the runtime does: the #! line alone starts /usr/bin/python3 -I -S with the archive."""
    got = subprocess.run(
        [str(artifact)], input=b"{}", capture_output=True, env={"CNI_COMMAND": "VERSION"}, check=True
    )
    assert json.loads(got.stdout)["buildInfo"]["commit"] == "0123abc"


@pytest.mark.parametrize(
    "interpreter, line",
    [
        ("/usr/bin/python3 -IS", b"#!/usr/bin/python3 -ISc" + archive.LAUNCH_CODE.encode() + b"\n"),
        ("/opt/py/bin/python3", b"#!/opt/py/bin/python3 -c" + archive.LAUNCH_CODE.encode() + b"\n"),
    ],
)
def test_launcher_glues_c_to_the_flags(interpreter, line):
    assert archive.launcher(interpreter) == line


@pytest.mark.parametrize(
    "interpreter",
    [
        "python3 -IS",
        "/usr/bin/env python3",
        "/usr/bin/python3 -I -S",
        "/usr/bin/python3 -Ic",
        "/usr/bin/python3 IS",
        "/" + "p" * 120,
    ],
)
def test_launcher_refuses_what_one_line_cannot_carry(interpreter):
    with pytest.raises(archive.LayoutError):
        archive.launcher(interpreter)
