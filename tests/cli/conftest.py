"""The inputs a newcomer gets wrong, made once: a PNG, a folder, a file, a read-only folder, small valid inputs."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
from srl_agent.resources import resource_dir

REPO = Path(__file__).resolve().parents[2]
RESOURCES = resource_dir()
SUITE_TASKS = RESOURCES / "suites" / "pypi-mutants" / "tasks.jsonl"
PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


def _can_write(folder: Path) -> bool:
    try:
        fd, name = tempfile.mkstemp(dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def _read_only_folder(root: Path) -> Path | None:
    """A folder nobody here can write in: a chmod 555 folder for a normal user; for root (who ignores modes) a
    kernel folder such as /sys that refuses new files."""
    ro = root / "read-only"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    if not _can_write(ro):
        return ro
    for candidate in (Path("/sys"), Path("/proc/sys")):
        if candidate.is_dir() and not _can_write(candidate):
            return candidate
    return None


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> dict[str, str]:
    from srl_agent.train.fixtures import step_dataset

    root = tmp_path_factory.mktemp("mistakes")
    (root / "img.png").write_bytes(PNG_BYTES)
    lines = (RESOURCES / "trajectories" / "pypi-mutants.jsonl").read_text().splitlines()
    (root / "traj.jsonl").write_text("\n".join(lines[:2]) + "\n")
    (root / "victim.jsonl").write_text("\n".join(lines[:2]) + "\n")  # named as input and output at once
    (root / "traj_all.jsonl").write_text("\n".join(lines) + "\n")
    first = json.loads(lines[0])["task"]["instance_id"]
    (root / "dir").mkdir()
    (root / "dir" / "x").write_text("not a trajectory\n")
    (root / "afile.txt").write_text("text\n")
    (root / "preds.json").write_text(json.dumps([{"instance_id": first, "model_name_or_path": "m",
                                                  "model_patch": ""}]))
    tasks = SUITE_TASKS.read_text().splitlines()
    (root / "my_tasks.jsonl").write_text("\n".join(tasks[:2]) + "\n")
    preset = (RESOURCES / "configs" / "srl_cpu.yaml").read_text()
    (root / "lr.yaml").write_text(preset.replace("learning_rate: 5.0e-5", "learning_rate: 1e-5"))
    step_dataset().save_to_disk(str(root / "steps"))
    ro = _read_only_folder(root)
    test_task = next(json.loads(t)["instance_id"] for t in tasks if json.loads(t).get("split") == "test")
    yield {"root": str(root), "png": str(root / "img.png"), "traj": str(root / "traj.jsonl"), "victim": str(root / "victim.jsonl"),
           "traj_all": str(root / "traj_all.jsonl"), "dir": str(root / "dir"), "file": str(root / "afile.txt"),
           "preds": str(root / "preds.json"), "tasks_file": str(root / "my_tasks.jsonl"),
           "lr_yaml": str(root / "lr.yaml"), "steps": str(root / "steps"), "ro": str(ro) if ro else "",
           "none": str(root / "none"), "tid": first, "test_tid": test_task}
    if ro is not None and ro.is_relative_to(root):
        ro.chmod(0o755)
    shutil.rmtree(root / "out", ignore_errors=True)
