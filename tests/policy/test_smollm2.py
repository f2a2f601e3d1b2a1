"""smollm2-135m, the real pretrained student: converted from the PyPI wheel's GGUF file into a normal HF folder,
it loads, generates, and takes a real SRL step on the CPU (slow: the conversion alone takes a minute or two)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def smollm2_dir() -> Path:
    from filelock import FileLock

    from srl_agent.errors import ModelLoadError
    from srl_agent.policy import smollm2

    path = REPO / ".cache" / "test-students" / smollm2.NAME
    try:
        smollm2.gguf_file()
    except ModelLoadError as exc:
        if IN_CI:  # `make test` installs the wheel (scripts/setup_test_extras.sh): never a silent skip in CI
            pytest.fail(f"smollm2-135m is not installed in CI: {exc}")
        pytest.skip(f"smollm2-135m is not installed here: {exc}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if not (path / "student.json").is_file():
            smollm2.convert(path)
    return path


@pytest.fixture(scope="module")
def steps_dir(tmp_path_factory) -> Path:
    from srl_agent.train.fixtures import step_dataset

    path = tmp_path_factory.mktemp("steps") / "steps"
    step_dataset(copies=1).save_to_disk(str(path))
    return path


@pytest.mark.slow
def test_the_converted_folder_is_a_plain_llama_with_the_files_chat_template(smollm2_dir):
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(smollm2_dir)
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    assert config.model_type == "llama" and getattr(config, "quantization_config", None) is None
    assert (smollm2_dir / "model.safetensors").is_file()
    record = json.loads((smollm2_dir / "student.json").read_text())
    assert 130e6 < record["parameters"] < 140e6 and record["source"]["version"] == "0.1.2"
    text = tok.apply_chat_template([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
                                   tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>system\ns<|im_end|>\n<|im_start|>user\nu<|im_end|>\n<|im_start|>assistant\n"
    assert tok.pad_token == "<|endoftext|>" and tok.pad_token != tok.eos_token


@pytest.mark.slow
def test_smollm2_generates_and_takes_one_real_srl_step(smollm2_dir, steps_dir, tmp_path):
    from srl_agent.policy.base import GenerationConfig
    from srl_agent.policy.transformers_policy import TransformersPolicy
    from srl_agent.train.config import SRLConfig
    from srl_agent.train.srl import train_srl

    policy = TransformersPolicy(str(smollm2_dir), gen=GenerationConfig(max_new_tokens=12))
    prompt = [{"role": "system", "content": "You are a helpful assistant."},
              {"role": "user", "content": "Name one shell command that lists files."}]
    answer = policy.generate(prompt)
    assert answer.strip(), "no text generated"
    del policy
    cfg = SRLConfig(data=str(steps_dir), model=str(smollm2_dir), output_dir=str(tmp_path / "srl"), max_steps=1,
                    num_generations=2, prompts_per_batch=1, per_device_train_batch_size=2, max_completion_length=8,
                    learning_rate=1e-5, bf16=False, save_steps=100, report_to=[],
                    dynamic_sampling={"enabled": True, "max_rounds": 0})
    result = train_srl(cfg)
    assert result.global_step == 1
    logged = [json.loads(line) for line in Path(result.metrics_file).read_text().splitlines()]
    step = [m for m in logged if "reward" in m][0]
    assert -1.0 <= step["reward"] <= 1.0 and "dynamic_sampling/dropped_frac" in step
    assert (Path(result.final_model_dir) / "model.safetensors").is_file()
