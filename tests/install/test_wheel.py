"""`pip install .` (what pipx does) gives a working bondlab: the built wheel, installed into a fresh venv with
the lab's locked dependencies, runs `bondlab doctor`, `bondlab run --help` and loads a scenario, outside the
checkout. Slow-ish (a venv and ~30 packages, from pip's cache after the first run); no root, no kernel."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.build


def _run(argv, **kw):
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600, **kw)
    assert proc.returncode == 0, (
        f"{' '.join(map(str, argv))}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    )
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    # setuptools builds in the tree and never empties build/lib: a module that moved or went would ship again
    shutil.rmtree(REPO / "build", ignore_errors=True)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, REPO])
    (found,) = out.glob("bond_cni_lab-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory):
    env_dir = tmp_path_factory.mktemp("venv") / "v"
    _run([sys.executable, "-m", "venv", env_dir])
    pip = [env_dir / "bin" / "python", "-m", "pip", "install", "-q"]
    _run([*pip, "--require-hashes", "-r", REPO / "requirements" / "lab.txt"])
    _run([*pip, "--no-index", wheel])  # --no-index: the wheel's dependencies must all be in the lock
    return env_dir


def test_the_wheel_holds_every_non_python_file_of_the_lab(wheel):
    tracked = _run(["git", "-C", REPO, "ls-files", "lab/bondlab"]).split()
    data = {f[len("lab/") :] for f in tracked if not f.endswith(".py")}
    names = set(zipfile.ZipFile(wheel).namelist())
    assert data and data <= names, sorted(data - names)


def test_bondlab_from_the_installed_wheel(venv, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    bindir = venv / "bin"
    site = _run(
        [bindir / "python", "-c", "import bondlab, bondcni; print(bondlab.__file__, bondcni.__file__)"],
        cwd=tmp_path,
        env=env,
    )
    assert str(REPO) not in site and str(venv) in site
    doctor = _run([bindir / "bondlab", "doctor"], cwd=tmp_path, env=env)
    assert "CNI plugins" in doctor
    assert "usage: bondlab run" in _run([bindir / "bondlab", "run", "--help"], cwd=tmp_path, env=env)
    name = _run(
        [
            bindir / "python",
            "-c",
            "import sys; from bondlab.model.scenario import load; print(load(sys.argv[1]).name)",
            REPO / "scenarios" / "modes" / "active-backup.yaml",
        ],
        cwd=tmp_path,
        env=env,
    )
    assert name.strip() == "active-backup"
    version = _run([bindir / "bond"], cwd=tmp_path, env=dict(env, CNI_COMMAND="VERSION"))
    assert '"supportedVersions"' in version
