"""The SFT baseline on the tiny student, in both forms, and the trainers' config files."""

from __future__ import annotations

from pathlib import Path

import pytest

from srl_agent.errors import ConfigError, InputError
from srl_agent.train.config import SFTRunConfig, SRLConfig, load_config
from srl_agent.resources import resource_dir

REPO = Path(__file__).resolve().parents[2]
RESOURCES = resource_dir()


def _changed(a, b) -> bool:
    from safetensors.torch import load_file

    x, y = load_file(str(Path(a) / "model.safetensors")), load_file(str(Path(b) / "model.safetensors"))
    return any(not (x[k] == y[k]).all() for k in x)


@pytest.mark.slow
def test_sft_on_step_examples(student_dir, steps_dir, tmp_path):
    from srl_agent.train.sft import train_sft

    cfg = load_config(SFTRunConfig, RESOURCES / "configs" / "sft_cpu.yaml", data=str(steps_dir),
                      model=str(student_dir), output_dir=str(tmp_path / "sft"), max_steps=2, report_to=[])
    result = train_sft(cfg)
    assert result.method == "sft-step" and result.global_step == 2
    assert _changed(student_dir, result.final_model_dir)


@pytest.mark.slow
def test_sft_on_whole_trajectories_with_assistant_only_loss(student_dir, tmp_path):
    from srl_agent.train.fixtures import write_trajectory_jsonl
    from srl_agent.train.sft import train_sft

    data = write_trajectory_jsonl(tmp_path / "trajs.jsonl")
    cfg = load_config(SFTRunConfig, RESOURCES / "configs" / "sft_cpu.yaml", data=str(data), model=str(student_dir),
                      output_dir=str(tmp_path / "sft"), max_steps=2, report_to=[],
                      lora={"r": 4, "alpha": 8, "dropout": 0.0})
    result = train_sft(cfg)
    assert result.method == "sft-trajectory" and result.global_step == 2
    assert (Path(result.final_model_dir) / "adapter_config.json").exists()  # LoRA through PEFT


def test_sft_step_target_always_has_a_parsable_think_block():
    from srl_agent.actions import parse_completion
    from srl_agent.train.data import sft_step_target

    target = sft_step_target("", "<function=submit>\n</function>")
    assert parse_completion(target).ok


def test_trajectory_chat_has_think_and_ends_with_the_last_action(tmp_path):
    from srl_agent.train.data import load_trajectory_chats
    from srl_agent.train.fixtures import write_trajectory_jsonl

    ds = load_trajectory_chats(write_trajectory_jsonl(tmp_path / "t.jsonl"))
    messages = ds[0]["messages"]
    assert messages[0]["role"] == "system" and messages[-1]["role"] == "assistant"
    assert all(m["content"].startswith("<think>") for m in messages if m["role"] == "assistant")


@pytest.mark.parametrize("preset", ["srl_paper.yaml", "srl_cpu.yaml"])
def test_srl_presets_load(preset):
    cfg = load_config(SRLConfig, RESOURCES / "configs" / preset)
    assert cfg.beta == 0.0 and cfg.temperature == 1.0 and cfg.max_grad_norm == 1.0
    if preset == "srl_paper.yaml":
        assert (cfg.num_generations, cfg.prompts_per_batch, cfg.learning_rate, cfg.warmup_ratio) == (8, 512, 5e-7, 0)
        assert cfg.accumulation_steps(1) * cfg.per_device_train_batch_size == 512 * 8


@pytest.mark.parametrize("preset", ["sft_paper.yaml", "sft_cpu.yaml"])
def test_sft_presets_load(preset):
    cfg = load_config(SFTRunConfig, RESOURCES / "configs" / preset)
    if preset == "sft_paper.yaml":
        assert (cfg.learning_rate, cfg.num_train_epochs, cfg.lr_scheduler_type, cfg.warmup_ratio) == \
            (5e-6, 3, "cosine", 0.3)
        assert cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps == 64


def test_config_errors_say_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="trl:"):
        load_config(SRLConfig, None, learning_rat=1.0)
    with pytest.raises(ConfigError, match="num_generations"):
        load_config(SRLConfig, None, num_generations=1)
    with pytest.raises(ConfigError, match="no such file and no such preset"):
        load_config(SRLConfig, tmp_path / "nope.yaml")


def test_missing_data_is_a_user_error(tmp_path):
    from srl_agent.train.data import load_steps

    with pytest.raises(InputError, match="srl traj split"):
        load_steps(tmp_path / "nothing")


def test_cli_reports_unknown_method_and_bad_data_in_one_line(tmp_path, capsys):
    from srl_agent.cli import main

    assert main(["train", "--method", "srl", "--data", str(tmp_path / "none"), "--output", str(tmp_path / "o"),
                 "--model", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
