"""The package installs as a wheel and works from outside a checkout: every file it reads at run time (base image
recipe, suites, presets, bundled trajectories, in-container tools) is package data, found with importlib.resources.

The wheel is built from a copy of the tracked files (so the checkout's build/ and egg-info are not used), installed
with --no-deps into a fresh virtualenv in a temporary folder, and run from there; its dependencies come from this
test's own environment through a path file, so nothing is downloaded."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NEEDED = ["srl_agent/resources/base/Dockerfile", "srl_agent/resources/base/packages.txt",
          "srl_agent/resources/suites/pypi-mutants/tasks.jsonl", "srl_agent/resources/suites/pypi-mutants/suite.yaml",
          "srl_agent/resources/configs/srl_cpu.yaml", "srl_agent/resources/configs/accelerate/zero2.yaml",
          "srl_agent/resources/trajectories/pypi-mutants.jsonl", "srl_agent/sandbox/setup_docker.sh",
          "srl_agent/sandbox/incontainer/supervisor.py"]


def _tracked_copy(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A virtualenv outside the checkout with only the wheel of srl-agent installed; returns its bin folder."""
    if not (REPO / ".git").exists():
        pytest.skip("needs a git checkout to know the tracked files")
    tmp = tmp_path_factory.mktemp("wheel")
    src = _tracked_copy(tmp / "src")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    wheel = next((tmp / "dist").glob("srl_agent-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not [n for n in NEEDED if n not in names], f"missing from {wheel.name}: {[n for n in NEEDED if n not in names]}"
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # The dependencies (torch, transformers, ...) from this environment; its .pth files are not processed from
    # here, so the checkout's editable srl_agent stays invisible to the new virtualenv.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    inst = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                           "-q", str(wheel)], capture_output=True, text=True, timeout=600)
    assert inst.returncode == 0, inst.stdout[-2000:] + inst.stderr[-2000:]
    return venv / "bin"


def _run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SRL_SUITES")}
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
    return subprocess.run([*args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


@pytest.mark.slow
def test_the_wheel_runs_from_outside_the_checkout(installed, tmp_path):
    where = _run(installed, str(installed / "python"), "-c",
                 "import srl_agent, srl_agent.resources as r; print(srl_agent.__file__); print(r.resource_dir())",
                 cwd=tmp_path)
    assert where.returncode == 0, where.stderr[-2000:]
    module, resources = where.stdout.split()
    assert Path(module).is_relative_to(installed.parent) and Path(resources).is_relative_to(installed.parent)
    assert not Path(module).is_relative_to(REPO)

    tasks = _run(installed, str(installed / "srl"), "tasks", "list", cwd=tmp_path)
    assert tasks.returncode == 0, tasks.stderr[-2000:]
    assert "boltons-24.0.0__arith_op_2a94a414" in tasks.stdout and "Traceback" not in tasks.stderr

    presets = _run(installed, str(installed / "python"), "-c",
                   "from srl_agent.train.config import preset_path; print(preset_path('srl_cpu'))", cwd=tmp_path)
    assert presets.returncode == 0 and Path(presets.stdout.strip()).is_relative_to(installed.parent), presets.stderr

    check = _run(installed, str(installed / "srl"), "env", "setup", "--check", cwd=tmp_path)
    assert check.returncode in (0, 1) and "Traceback" not in check.stderr, check.stderr[-2000:]
    assert "docker engine" in check.stdout and "base image" in check.stdout
    assert str(installed.parent) in check.stdout  # the recipe and suites it reports are the installed copies
    from srl_agent.sandbox.images import BASE_IMAGE

    assert BASE_IMAGE in check.stdout  # the same recipe, so the same content-addressed tag as the checkout's


def test_env_setup_check_changes_nothing_and_says_what_is_missing(tmp_path):
    """With no docker client on PATH, --check reports it (exit 1) instead of installing anything."""
    env = {**os.environ, "PATH": str(tmp_path)}  # an empty folder: no docker, no apt
    r = subprocess.run([sys.executable, "-m", "srl_agent.cli", "env", "setup", "--check"], capture_output=True,
                       text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "docker client" in r.stdout and "missing" in r.stdout and "not ready" in r.stdout
    assert "Traceback" not in r.stderr
