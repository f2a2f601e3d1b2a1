"""Dynamic sampling under several processes: two gloo ranks under `accelerate launch` keep the same prompt groups,
in the same order, as one process with the same seed, and every rank trains on a full batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from srl_agent.resources import resource_dir

REPO = Path(__file__).resolve().parents[1].parent
RESOURCES = resource_dir()
SCRIPT = Path(__file__).with_name("dynamic_ranks.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def raw_student(tmp_path_factory) -> Path:
    """An untrained student is enough: the rewards are scripted, only the batch surgery is under test."""
    from srl_agent.policy.student import StudentSpec, init_student

    path = tmp_path_factory.mktemp("student") / "raw"
    init_student(path, StudentSpec(warm_steps=0), show_progress=False)
    return path


def _run(cmd: list[str], out: Path) -> list[dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "ACCELERATE_USE_CPU": "true",
           "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return [json.loads(p.read_text()) for p in sorted(out.glob("rank*.json"))]


@pytest.mark.slow
def test_two_ranks_keep_the_same_groups_as_one_process(raw_student, steps_dir, tmp_path):
    one = _run([sys.executable, str(SCRIPT), str(raw_student), str(steps_dir), str(tmp_path / "one"),
                "--per-device", "8"], tmp_path / "one")
    accelerate = Path(sys.executable).parent / "accelerate"
    two = _run([str(accelerate), "launch", "--config_file", str(RESOURCES / "configs" / "accelerate" / "cpu_2proc.yaml"),
                "--main_process_port", str(_free_port()), str(SCRIPT), str(raw_student), str(steps_dir),
                str(tmp_path / "two"), "--per-device", "4"], tmp_path / "two")
    assert len(one) == 1 and len(two) == 2 and two[0]["world"] == 2
    (solo,) = one
    assert len(solo["batches"]) == 2
    for step, batch in enumerate(solo["batches"]):
        parts = [rank["batches"][step] for rank in two]
        assert [len(p["rows"]) for p in parts] == [8, 8], "every rank gets its full batch"
        assert parts[0]["rows"] + parts[1]["rows"] == batch["rows"], f"step {step}: other groups than one process"
        assert parts[0]["advantages"] + parts[1]["advantages"] == batch["advantages"]
        # the loss normaliser counts the tokens of the whole batch, both ranks together
        assert parts[0]["num_items_in_batch"] == parts[1]["num_items_in_batch"]
    # the scripted reward drops every odd-step prompt: at least one step had to refill, identically everywhere
    logged = solo["logged"]
    assert any(entry["dynamic_sampling/extra_rounds"] >= 1 for entry in logged)
    for rank in two:
        assert [e["dynamic_sampling/dropped_frac"] for e in rank["logged"]] == \
               [e["dynamic_sampling/dropped_frac"] for e in logged]
    kept = [a for batch in solo["batches"] for a in batch["advantages"]]
    assert all(abs(a) > 0.5 for a in kept), "only groups with signal are trained on"
