"""The default student: a loadable HF folder with Qwen's template, deterministic, and warm-started to parse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srl_agent.errors import ModelLoadError
from srl_agent.policy.student import (SPEC_FILE, StudentSpec, cached_student, init_student, load_student,
                                      parse_rate, resolve_model)

REPO = Path(__file__).resolve().parents[2]
SMALL = StudentSpec(warm_steps=3, eval_samples=2)


@pytest.fixture(scope="module")
def small_student(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("student") / "tiny"
    init_student(path, SMALL, show_progress=False)
    return path


def test_student_is_a_normal_qwen2_folder_with_qwens_chat_template(small_student):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(small_student)
    tok = AutoTokenizer.from_pretrained(small_student)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    for special in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
        assert len(tok(special, add_special_tokens=False)["input_ids"]) == 1
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    code = "def f(x):\n    return x  # ünïcode ✓\n"
    assert tok.decode(tok(code, add_special_tokens=False)["input_ids"]) == code  # byte-level: lossless
    record = json.loads((small_student / SPEC_FILE).read_text())
    assert record["parameters"] == sum(p.numel() for p in model.parameters())
    assert model.config.max_position_embeddings == record["context_length"]


def test_init_is_deterministic_for_a_seed(small_student, tmp_path):
    from safetensors.torch import load_file

    again = tmp_path / "again"
    init_student(again, SMALL, show_progress=False)
    a, b = load_file(str(small_student / "model.safetensors")), load_file(str(again / "model.safetensors"))
    assert all((a[k] == b[k]).all() for k in a)
    assert (small_student / "tokenizer.json").read_text() == (again / "tokenizer.json").read_text()


@pytest.mark.slow
def test_warm_start_makes_most_samples_parse():
    """A random model never writes a parsable output (all rewards -1, GRPO learns nothing); after init it does."""
    from srl_agent.train.fixtures import step_rows

    path = cached_student(REPO / ".cache" / "test-students")
    ws = json.loads((path / SPEC_FILE).read_text())["warm_start"]
    assert ws["parse_rate_before"] <= 0.1 and ws["parse_rate_after"] >= 0.5
    model, tok = load_student(str(path))
    prompts = [r["prompt"] for r in step_rows()]  # prompts the warm start never saw
    assert parse_rate(model, tok, prompts, temperature=0.0) >= 0.5


def test_resolve_model_maps_tiny_to_the_default_folder_and_passes_anything_else(small_student, monkeypatch,
                                                                                 tmp_path):
    monkeypatch.setenv("SRL_HOME", str(tmp_path))
    (tmp_path / "students").mkdir()
    (tmp_path / "students" / "tiny").symlink_to(small_student)
    assert resolve_model("tiny") == str(tmp_path / "students" / "tiny")
    assert resolve_model(None) == str(tmp_path / "students" / "tiny")
    assert resolve_model("Qwen/Qwen2.5-Coder-7B-Instruct") == "Qwen/Qwen2.5-Coder-7B-Instruct"
    assert resolve_model("/some/path") == "/some/path"
    model, _ = load_student("tiny")
    assert type(model).__name__ == "Qwen2ForCausalLM"


def test_unloadable_model_is_a_user_error(tmp_path):
    with pytest.raises(ModelLoadError, match="cannot load model"):
        load_student(str(tmp_path / "missing-model"))


def test_cli_init_writes_a_student(tmp_path, capsys):
    from srl_agent.cli import main

    assert main(["student", "init", "-o", str(tmp_path / "s"), "--warm-steps", "0"]) == 0
    assert (tmp_path / "s" / SPEC_FILE).exists()
    assert "parameters" in capsys.readouterr().out
