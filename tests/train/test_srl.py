"""SRL on the tiny student: a CPU run learns and logs, dynamic sampling refills, an interrupted run resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from srl_agent.train.config import SRLConfig, load_config
from srl_agent.resources import resource_dir

REPO = Path(__file__).resolve().parents[2]
RESOURCES = resource_dir()
CPU_PRESET = RESOURCES / "configs" / "srl_cpu.yaml"
FAST = dict(max_completion_length=48, save_steps=100, report_to=["tensorboard"])


def _state(path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(path) / "model.safetensors"))


def _metrics(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.mark.slow
def test_cpu_srl_run_changes_weights_and_logs_reward_std_and_dropped_fraction(student_dir, steps_dir, tmp_path):
    from srl_agent.train.srl import train_srl

    cfg = load_config(SRLConfig, CPU_PRESET, data=str(steps_dir), model=str(student_dir),
                      output_dir=str(tmp_path / "run"), max_steps=2, **FAST)
    result = train_srl(cfg)
    assert result.global_step == 2
    before, after = _state(student_dir), _state(result.final_model_dir)
    assert any(not (before[k] == after[k]).all() for k in before), "SRL steps left every weight unchanged"
    logged = [m for m in _metrics(result.metrics_file) if "reward" in m]
    assert len(logged) == 2
    for m in logged:
        assert -1.0 <= m["reward"] <= 1.0
        assert m["reward_std"] >= 0.0
        assert 0.0 <= m["dynamic_sampling/dropped_frac"] <= 1.0
        assert "dynamic_sampling/extra_generations" in m
    assert list((tmp_path / "run").rglob("events.out.tfevents*")), "no TensorBoard log"


class _ScriptedReward:
    """Constant rewards (no signal) for the first `flat_calls` calls, then 0/1 alternating within each group."""

    def __init__(self, flat_calls: int) -> None:
        self.flat_calls, self.calls, self.__name__ = flat_calls, 0, "scripted"

    def __call__(self, completions, **kwargs):
        self.calls += 1
        if self.calls <= self.flat_calls:
            return [0.25] * len(completions)
        return [float(i % 2) for i in range(len(completions))]


def _one_step(student_dir, steps_dir, tmp_path, reward, max_rounds):
    from datasets import load_from_disk

    from srl_agent.policy.student import load_student
    from srl_agent.train.dynamic import DynamicSampling, make_trainer_class
    from srl_agent.train.srl import grpo_args

    cfg = load_config(SRLConfig, CPU_PRESET, data=str(steps_dir), model=str(student_dir), max_steps=1,
                      output_dir=str(tmp_path / "ds"), max_completion_length=16, save_steps=100, report_to=[])
    captured = []

    class Capturing(make_trainer_class()):
        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            if self.model.training:
                captured.append(out)
            return out

    model, tok = load_student(str(student_dir))
    trainer = Capturing(model=model, reward_funcs=[reward], args=grpo_args(cfg), processing_class=tok,
                        train_dataset=load_from_disk(str(steps_dir))["train"],
                        dynamic_sampling=DynamicSampling(True, 1e-4, max_rounds))
    trainer.train()
    logged = [h for h in trainer.state.log_history if "dynamic_sampling/dropped_frac" in h][0]
    return captured[0], logged, cfg


@pytest.mark.slow
def test_dynamic_sampling_drops_zero_variance_groups_and_refills_the_batch(student_dir, steps_dir, tmp_path):
    batch, logged, cfg = _one_step(student_dir, steps_dir, tmp_path, _ScriptedReward(flat_calls=1), max_rounds=3)
    G, need = cfg.num_generations, cfg.prompts_per_batch
    assert batch["advantages"].shape[0] == need * G          # the batch is full
    assert (batch["advantages"].abs() > 0.5).all()            # and holds only the refilled, informative groups
    assert logged["dynamic_sampling/dropped_frac"] == pytest.approx(need / (2 * need))
    assert logged["dynamic_sampling/extra_rounds"] == 1
    assert logged["dynamic_sampling/extra_generations"] == need * G
    assert logged["dynamic_sampling/cap_hit"] == 0


@pytest.mark.slow
def test_dynamic_sampling_cap_stops_resampling_and_says_so(student_dir, steps_dir, tmp_path, caplog):
    with caplog.at_level("WARNING", logger="srl_agent.train.dynamic"):
        batch, logged, cfg = _one_step(student_dir, steps_dir, tmp_path, _ScriptedReward(flat_calls=99), max_rounds=1)
    assert batch["advantages"].shape[0] == cfg.prompts_per_batch * cfg.num_generations
    assert (batch["advantages"] == 0).all()
    assert logged["dynamic_sampling/cap_hit"] == 1 and logged["dynamic_sampling/dropped_frac"] == 1
    assert "max_rounds" in caplog.text


@pytest.mark.slow
def test_killed_run_resumes_from_its_checkpoint(student_dir, steps_dir, tmp_path):
    from srl_agent.train.srl import train_srl

    preset = yaml.safe_load(CPU_PRESET.read_text()) | {"max_completion_length": 32, "save_steps": 2,
                                                       "report_to": []}
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(preset))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "srl_agent.cli", "train", "--method", "srl", "--data", str(steps_dir),
           "--model", str(student_dir), "--output", str(out), "--config", str(cfg_file), "--max-steps", "50"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=os.environ | {"PYTHONPATH": str(REPO)})
    marker = out / "checkpoint-2" / "trainer_state.json"
    deadline = time.monotonic() + 600
    try:
        while not marker.exists():
            assert proc.poll() is None, "training exited before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint after 10 minutes"
            time.sleep(0.5)
        time.sleep(0.5)  # let the checkpoint's last files land
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (out / "final").exists()
    cfg = load_config(SRLConfig, cfg_file, data=str(steps_dir), model=str(student_dir), output_dir=str(out),
                      max_steps=3)
    metrics = out / "metrics.jsonl"
    logged_before = len(_metrics(metrics)) if metrics.exists() else 0  # the killed run may have logged step 3 too
    result = train_srl(cfg, resume=True)
    assert result.resumed_from and Path(result.resumed_from).name == "checkpoint-2"
    assert result.global_step == 3
    steps = [m["step"] for m in _metrics(result.metrics_file)[logged_before:] if "reward" in m]
    assert steps == [3], "the resumed run trains exactly the one step after checkpoint-2"
