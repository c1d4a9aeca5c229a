"""bin/bond-standalone on a node without python3: ADD, CHECK and DEL run from inside a chroot that holds
busybox-static, host-local, the bundle (installed as the DaemonSet does: a folder, `bond` a link into it)
and the glibc files those ELF binaries load - no python3. Real kernel, real netns and veths.

Every bundle that is built is tested: the shipped one, $BONDCNI_STANDALONE, else bin/bond-standalone (tox -e
build-standalone), else built here; and each tool's at bin/bond-standalone-<tool> when it is there
(`python -m bondcni_build.standalone --tool nuitka --output bin/bond-standalone-nuitka`), skipped when not.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bondcni_build.standalone import TOOLS

from . import conftest
from .conftest import REPO, bond_conf, link, links

pytestmark = pytest.mark.kernel

BUSYBOX = "/bin/busybox"
HOST_LOCAL = "/usr/lib/cni/host-local"


def _bundle(tmp_path: Path, tool: str) -> Path:
    if tool != "shipped":
        built = REPO / "bin" / f"bond-standalone-{tool}"
        if not (built / "bond").is_file():
            build = f"python -m bondcni_build.standalone --tool {tool} --output {built}"
            pytest.skip(f"no {tool} bundle: {build}")
        return built
    given = os.environ.get("BONDCNI_STANDALONE") or str(REPO / "bin" / "bond-standalone")
    if (Path(given) / "bond").is_file():
        return Path(given)
    out = tmp_path / "bundle"
    subprocess.run(
        [sys.executable, "-m", "bondcni_build.standalone", "--output", str(out)],
        check=True,
        capture_output=True,
        env=dict(os.environ, PYINSTALLER_CONFIG_DIR=str(tmp_path / "pyinstaller")),  # $HOME may be read-only
    )
    return out


def _loaded_libraries(elf: Path) -> set:
    """The absolute paths `ldd` resolves for an ELF file (none for a static one)."""
    proc = subprocess.run(["ldd", str(elf)], capture_output=True, text=True)
    paths = set()
    for line in proc.stdout.splitlines():
        for word in line.split():
            if word.startswith("/") and os.path.exists(word):
                paths.add(word)
    return paths


def _chroot(root: Path, bundle: Path) -> None:
    for d in ("bin", "proc", "sys", "dev", "run/netns", "tmp", "etc", "opt/cni/bin", "var/lib/cni"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "var/run").symlink_to("../run")
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    (root / "bin/sh").symlink_to("busybox")
    shutil.copy2(HOST_LOCAL, root / "opt/cni/bin/host-local")
    shutil.copytree(bundle, root / "opt/cni/bin/bond-standalone", symlinks=True)
    (root / "opt/cni/bin/bond").symlink_to("bond-standalone/bond")
    elves = [Path(HOST_LOCAL), bundle / "bond", *bundle.rglob("*.so*")]
    for lib in set().union(*(_loaded_libraries(e) for e in elves)):
        if str(bundle) in os.path.realpath(lib):
            continue
        dest = root / lib.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(lib), dest)


@pytest.fixture(params=["shipped", *sorted(TOOLS)])
def chroot_lab(lab, tmp_path, monkeypatch, request):
    """The plugin fixture's world, with the plugin exec'd inside the chroot (mounts live in the plugin's
    own mount namespace: `ip netns exec` makes one, and it goes with the process)."""
    root = tmp_path / "node"
    _chroot(root, _bundle(tmp_path, request.param))
    wrapper = tmp_path / "bond-in-chroot"
    wrapper.write_text(
        "#!/bin/sh\nset -e\n"
        f"R={root}\n"
        'mount --rbind /proc "$R/proc"; mount --rbind /sys "$R/sys"; mount --rbind /dev "$R/dev"\n'
        'mount --rbind /run/netns "$R/run/netns"\n'
        'exec chroot "$R" /opt/cni/bin/bond "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setattr(conftest, "plugin_command", lambda: [str(wrapper)])
    lab.state_dir = root / "var/lib/cni/bond"
    lab.ipam_dir = root / "var/lib/cni/networks"
    lab.root, lab.wrapper, lab.tool = root, wrapper, request.param
    return lab


def _env() -> dict:
    return {"CNI_PATH": "/opt/cni/bin", "BONDCNI_STATE_DIR": "/var/lib/cni/bond"}


def test_the_chroot_has_no_python(chroot_lab):
    root = chroot_lab.root
    found = [p for p in root.rglob("python3*") if "bond-standalone" not in str(p)]
    assert found == []
    proc = subprocess.run(
        ["chroot", str(root), "/bin/sh", "-c", "command -v python3 python"], capture_output=True
    )
    assert proc.returncode != 0
    # Through the wrapper, in a mount namespace of its own: a node has /proc, and Nuitka's bundle needs it
    # (it finds itself by /proc/self/exe; without /proc it aborts). No LANG, as in lab.run: Nuitka's bundle
    # aborted here with LANG set (this minimal root has no locale data; benchmarks/README.md).
    in_chroot = ["unshare", "--mount", "--propagation", "private", str(chroot_lab.wrapper)]
    env = {"PATH": os.environ["PATH"]}
    out = subprocess.run([*in_chroot, "--version"], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("bond "), out
    version = subprocess.run(in_chroot, env=dict(env, CNI_COMMAND="VERSION"), capture_output=True)
    built_by = [b for b in json.loads(version.stdout)["buildInfo"]["bundled"] if b.startswith("standalone:")]
    tools = [chroot_lab.tool] if chroot_lab.tool in TOOLS else sorted(TOOLS)
    assert len(built_by) == 1 and built_by[0].split(":")[1] in tools, built_by


def test_add_check_del_from_the_chroot(chroot_lab):
    lab = chroot_lab
    lab.veth(lab.pod, "net1")
    lab.veth(lab.pod, "net2")
    before = lab.snapshot()
    conf = bond_conf(["net1", "net2"], ipam=lab.ipam(dataDir="/var/lib/cni/networks"))
    res = lab.run("ADD", conf, env=_env())
    assert res.rc == 0, res
    out = res.json
    assert [i["name"] for i in out["interfaces"]] == ["bond0", "net1", "net2"]
    assert link(lab.pod, "bond0")["linkinfo"]["info_data"]["mode"] == "active-backup"
    assert sorted(ln["ifname"] for ln in links(lab.pod) if ln.get("master") == "bond0") == ["net1", "net2"]
    assert len(lab.allocations()) == 1  # host-local ran in the chroot and wrote there

    res = lab.run("CHECK", dict(conf, prevResult=out), env=_env())
    assert res.rc == 0, res
    res = lab.run("DEL", dict(conf, prevResult=out), env=_env())
    assert res.rc == 0, res
    assert lab.snapshot() == before
