"""SRL-then-RLVR: one run directory, two stages, resumable inside the second; and the learning-evidence quick mode."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from srl_agent.actions import Action, format_completion

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
REPO = Path(__file__).resolve().parents[2]


def _config(student_dir, steps_dir, out: Path, rlvr_steps: int):
    from srl_agent.tasks import load_suite
    from srl_agent.train.config import load_config
    from srl_agent.train.curriculum import CurriculumConfig

    task = load_suite("pypi-mutants", "train")[0]
    return load_config(
        CurriculumConfig, "srl_then_rlvr_cpu", data=str(steps_dir), model=str(student_dir), output_dir=str(out),
        report_to=[],
        srl={"config": "srl_cpu", "max_steps": 1, "num_generations": 2, "prompts_per_batch": 1,
             "per_device_train_batch_size": 2, "max_completion_length": 24, "save_steps": 1},
        rlvr={"config": "rlvr_cpu", "max_steps": rlvr_steps, "save_steps": 1, "num_generations": 2,
              "per_device_train_batch_size": 2, "tasks": [task.instance_id], "max_episode_steps": 1,
              "dynamic_sampling": {"enabled": True, "max_rounds": 0}})


def test_stage_configs_chain_the_models_in_one_run_dir(student_dir, steps_dir, tmp_path):
    from srl_agent.errors import ConfigError
    from srl_agent.train.curriculum import CurriculumConfig
    from srl_agent.train.rlvr import RLVRConfig

    cfg = _config(student_dir, steps_dir, tmp_path / "run", 3)
    srl, rlvr = cfg.stage_config("srl"), cfg.stage_config("rlvr")
    assert srl.model == str(student_dir) and srl.output_dir == str(tmp_path / "run" / "srl") and srl.max_steps == 1
    assert isinstance(rlvr, RLVRConfig) and rlvr.model == str(tmp_path / "run" / "srl" / "final")
    assert rlvr.output_dir == str(tmp_path / "run" / "rlvr") and rlvr.data == "pypi-mutants" and rlvr.max_steps == 3
    assert cfg.to_dict()["method"] == "srl-then-rlvr"
    with pytest.raises(ConfigError):
        CurriculumConfig(data="x", rlvr={"model": "elsewhere"}).stage_config("rlvr")


@pytest.mark.docker
def test_srl_then_rlvr_resumes_in_its_second_stage(student_dir, steps_dir, tmp_path, base_image):
    """A run stopped inside RLVR continues there with --resume: SRL is not trained again, RLVR starts from its
    own last checkpoint."""
    from transformers import AutoTokenizer

    from srl_agent.policy.scripted import ScriptedPolicy
    from srl_agent.train.curriculum import train_srl_then_rlvr
    from srl_agent.train.rollout import TextActor

    tok = AutoTokenizer.from_pretrained(str(student_dir))
    submit = [format_completion("Submit.", Action.submit())]

    def actor():
        return {"actor": TextActor(ScriptedPolicy(default=submit), tok)}

    out = tmp_path / "run"
    first = train_srl_then_rlvr(_config(student_dir, steps_dir, out, 1), rlvr_replace=actor())
    assert first.global_step == 1 and (out / "rlvr" / "checkpoint-1").is_dir()
    srl_weights = next((out / "srl" / "final").glob("*.safetensors"))
    stamp = srl_weights.stat().st_mtime_ns
    state = json.loads((out / "curriculum.json").read_text())
    assert state["current"] == "done" and state["stages"]["srl"]["global_step"] == 1

    second = train_srl_then_rlvr(_config(student_dir, steps_dir, out, 2), resume=True, rlvr_replace=actor())
    assert second.resumed_from and second.resumed_from.endswith("checkpoint-1")
    assert second.global_step == 2 and Path(second.final_model_dir) == out / "rlvr" / "final"
    assert srl_weights.stat().st_mtime_ns == stamp, "the finished SRL stage must not run again"
    assert json.loads((out / "curriculum.json").read_text())["stages"]["rlvr"]["global_step"] == 2


@pytest.mark.docker
def test_learning_evidence_quick_mode_writes_its_table_and_plot(student_dir, tmp_path, base_image):
    """`python eval/learning_evidence.py --quick` runs the protocol's code end to end (every method, checkpoint
    selection, held-out steps, agent episodes from the start and from an expert prefix), writes one record per
    run, the table and the PNG; a rerun skips the finished runs."""
    sys.path.insert(0, str(REPO / "eval"))
    try:
        import learning_evidence
    finally:
        sys.path.pop(0)
    out = tmp_path / "evidence"
    assert learning_evidence.main(["--quick", "-o", str(out), "--student", str(student_dir)]) == 0
    table = (out / "table.md").read_text()
    for method in learning_evidence.METHODS:
        assert f"| {method} |" in table
    assert "Pre-registered reading" in table and "Whole experiment:" in table
    assert (out / "evidence.png").read_bytes()[:4] == b"\x89PNG"
    results = json.loads((out / "results.json").read_text())
    assert {r["method"] for r in results["runs"]} == set(learning_evidence.METHODS)
    assert results["info"]["pilot"]["steps"] >= 1 and "spec" in results["info"]["student_json"]
    for r in results["runs"]:
        assert -1.0 <= r["step_reward"] <= 1.0 and 0.0 <= r["parse_rate"] <= 1.0
        assert set(r["resolved"]) == {"start", "k1"} and all(0.0 <= x <= 1.0 for x in r["resolved"].values())
        assert r["selection"][0]["cpu_seconds"] == 0.0
        if r["method"] != "base":
            assert r["cost"]["steps"] >= 1 and r["cost"]["train_cpu_seconds"] > 0
            assert len(r["selection"]) >= 2 and r["cost"]["trained_tokens"] > 0
    assert results["runs"][0]["episodes"]["k1"][0]["steps"] <= 3  # k + 2 calls
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    assert learning_evidence.main(["--quick", "-o", str(out), "--student", str(student_dir)]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")} == stamps, "finished runs rerun"
