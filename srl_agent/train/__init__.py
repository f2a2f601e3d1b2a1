"""Trainers: a Config dataclass and one entry point per method, on TRL. Import-light: torch loads on use.

METHODS maps a `--method` name to (config class path, entry point path); other methods register by adding an
entry here or calling `register_method`.
"""

from __future__ import annotations

import importlib
from typing import Any

METHODS: dict[str, tuple[str, str]] = {
    "srl": ("srl_agent.train.config:SRLConfig", "srl_agent.train.srl:train_srl"),
    "sft": ("srl_agent.train.config:SFTRunConfig", "srl_agent.train.sft:train_sft"),
    "rlvr": ("srl_agent.train.rlvr:RLVRConfig", "srl_agent.train.rlvr:train_rlvr"),
    "srl-then-rlvr": ("srl_agent.train.curriculum:CurriculumConfig", "srl_agent.train.curriculum:train_srl_then_rlvr"),
}


def register_method(name: str, config_cls: str, entry_point: str) -> None:
    """Add a training method: `config_cls` and `entry_point` as "module:attribute" strings."""
    METHODS[name] = (config_cls, entry_point)


def resolve(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def _cpu_preset_for_tiny(method: str, model: str | None) -> str | None:
    """With no --config, the paper's defaults (lr 5e-7, 512 prompts per step) would make the tiny default student
    learn nothing in a CPU-sized run: use the method's CPU preset for it, and say so."""
    import logging

    from srl_agent.train.config import PRESET_DIR

    preset = PRESET_DIR / f"{method.replace('-', '_')}_cpu.yaml"
    if model in (None, "", "tiny") and preset.is_file():
        logging.getLogger(__name__).info("srl train: no --config given; using the CPU preset %s for the tiny student",
                                         preset.stem)
        return str(preset)
    return None


def run(method: str, config_file: str | None = None, *, resume: bool = False, settings: dict | None = None,
        **overrides: Any):
    """Load the method's config (YAML file, then `settings` from `-c KEY=VALUE`, then flag overrides) and run its
    entry point; returns its TrainResult."""
    from srl_agent.errors import ConfigError
    from srl_agent.train.config import load_config

    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    cfg_path, entry = METHODS[method]
    config_file = config_file or _cpu_preset_for_tiny(method, overrides.get("model"))
    config = load_config(resolve(cfg_path), config_file, settings=settings, **overrides)
    return resolve(entry)(config, resume=resume)
