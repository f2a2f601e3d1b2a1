"""Which config a run gets when the user names none."""

from __future__ import annotations

import pytest

from srl_agent.train import _cpu_preset_for_tiny
from srl_agent.train.config import PRESET_DIR


@pytest.mark.parametrize("method", ["srl", "sft", "rlvr", "srl-then-rlvr"])
def test_tiny_student_without_config_gets_its_methods_cpu_preset(method, caplog):
    """The paper's lr 5e-7 and 512 prompts per step would teach the tiny CPU student nothing; say what is used."""
    with caplog.at_level("INFO", logger="srl_agent"):
        path = _cpu_preset_for_tiny(method, None)
    assert path == str(PRESET_DIR / f"{method.replace('-', '_')}_cpu.yaml")
    assert "CPU preset" in caplog.text
    assert _cpu_preset_for_tiny(method, "tiny") == path


def test_other_models_keep_the_config_defaults():
    assert _cpu_preset_for_tiny("srl", "Qwen/Qwen2.5-Coder-7B-Instruct") is None
