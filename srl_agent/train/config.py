"""Training configuration: one typed dataclass per method, loadable from YAML presets (srl_agent/resources/configs/*.yaml).

A YAML file holds the fields of the method's config; `trl:` passes any further TRL argument through
unchanged (e.g. `loss_type`, `vllm_mode`). `-c KEY=VALUE` settings, then command-line flags, override the file;
every value is coerced to its field's type (srl_agent.train.settings).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srl_agent.errors import ConfigError
from srl_agent.resources import resource_dir
from srl_agent.reward import RewardConfig
from srl_agent.train.dynamic import DynamicSampling
from srl_agent.train.settings import coerce_settings, merge_settings, parse_assignments  # noqa: F401 - re-exported

SCHEMA = "srl-train-config/1"


@dataclass
class LoraSettings:
    """PEFT LoRA adapter settings (used when `lora` is set in the config)."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"


@dataclass
class TrainConfig:
    """Fields every method shares. `bf16: auto` means bf16 where the device supports it."""

    data: str = ""
    model: str = "tiny"
    output_dir: str = "runs/train"
    split: str = "train"
    max_steps: int = -1
    num_train_epochs: float = 1.0
    learning_rate: float = 5e-7
    lr_scheduler_type: str = "constant"
    warmup_ratio: float = 0.0          # fraction of the steps (TrainingArguments.warmup_steps as a float)
    max_grad_norm: float = 1.0
    per_device_train_batch_size: int = 8
    gradient_accumulation_steps: int | None = None
    bf16: bool | str = "auto"
    seed: int = 0
    save_steps: int = 50
    save_total_limit: int | None = 3
    logging_steps: int = 1
    report_to: list[str] = field(default_factory=lambda: ["tensorboard"])
    gradient_checkpointing: bool = False
    lora: LoraSettings | None = None
    trl: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.lora, dict):
            self.lora = LoraSettings(**self.lora)
        if isinstance(self.report_to, str):
            self.report_to = [self.report_to]
        if self.bf16 not in (True, False, "auto"):
            raise ConfigError(f"bf16 must be true, false or auto; got {self.bf16!r}")
        if self.save_steps < 1 or self.logging_steps < 1:
            raise ConfigError("save_steps and logging_steps must be at least 1")
        _check_ranges(self, {"learning_rate": (0, None), "num_train_epochs": (0, None, "above"),
                             "warmup_ratio": (0, 1), "max_grad_norm": (0, None),
                             "per_device_train_batch_size": (1, None), "gradient_accumulation_steps": (1, None),
                             "save_total_limit": (1, None), "seed": (0, 2**32 - 1)})
        if self.max_steps != -1 and self.max_steps < 1:
            raise ConfigError(f"max_steps must be 1 or more (or -1: train for num_train_epochs), got {self.max_steps}")
        check_reporters(self.report_to)

    def use_bf16(self) -> bool:
        if self.bf16 != "auto":
            return bool(self.bf16)
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())

    def common_trl_args(self) -> dict[str, Any]:
        import torch

        from srl_agent.progress import show_bars_in_trainer

        extra: dict[str, Any] = {"gradient_checkpointing": True} if self.gradient_checkpointing else {}
        return extra | dict(output_dir=self.output_dir, max_steps=self.max_steps, num_train_epochs=self.num_train_epochs,
                    learning_rate=self.learning_rate, lr_scheduler_type=self.lr_scheduler_type,
                    warmup_steps=float(self.warmup_ratio), max_grad_norm=self.max_grad_norm,
                    per_device_train_batch_size=self.per_device_train_batch_size, bf16=self.use_bf16(),
                    seed=self.seed, data_seed=self.seed, save_strategy="steps", save_steps=self.save_steps,
                    save_total_limit=self.save_total_limit, logging_steps=self.logging_steps,
                    report_to=self.report_to, disable_tqdm=not show_bars_in_trainer(),
                    dataloader_pin_memory=torch.cuda.is_available())

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "method": METHOD_OF.get(type(self), "?"), **dataclasses.asdict(self)}


@dataclass
class SRLConfig(TrainConfig):
    """SRL: GRPO with the step reward. Defaults are the paper's (srl_agent/resources/configs/srl_paper.yaml): G=8, T=1.0, KL 0,
    grad clip 1.0, lr 5e-7 constant without warm-up, 512 prompts per optimizer step, dynamic sampling."""

    num_generations: int = 8
    temperature: float = 1.0
    top_p: float = 1.0
    beta: float = 0.0
    prompts_per_batch: int = 512
    max_completion_length: int = 512
    reward: RewardConfig = field(default_factory=RewardConfig)
    dynamic_sampling: DynamicSampling = field(default_factory=DynamicSampling)
    use_vllm: bool = False
    vllm_mode: str = "colocate"

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.reward, dict):
            self.reward = RewardConfig.from_dict(self.reward)
        if isinstance(self.dynamic_sampling, dict):
            self.dynamic_sampling = DynamicSampling(**self.dynamic_sampling)
        if self.num_generations < 2:
            raise ConfigError("num_generations must be at least 2: GRPO compares completions within a group")
        completions = self.prompts_per_batch * self.num_generations
        if completions % self.per_device_train_batch_size:
            raise ConfigError(f"prompts_per_batch * num_generations ({completions}) must be a multiple of "
                              f"per_device_train_batch_size ({self.per_device_train_batch_size})")
        if self.dynamic_sampling.epsilon < 0 or self.dynamic_sampling.max_rounds < 0:
            raise ConfigError("dynamic_sampling.epsilon and max_rounds must be >= 0")
        _check_ranges(self, {"temperature": (0, None, "above"), "top_p": (0, 1, "above"), "beta": (0, None),
                             "prompts_per_batch": (1, None), "max_completion_length": (1, None)})

    def accumulation_steps(self, num_processes: int = 1) -> int:
        """Micro-batches per optimizer step, so that one step sees prompts_per_batch prompts x G completions."""
        if self.gradient_accumulation_steps:
            return self.gradient_accumulation_steps
        completions = self.prompts_per_batch * self.num_generations
        per_step = self.per_device_train_batch_size * num_processes
        if completions % per_step:
            raise ConfigError(f"{completions} completions per step do not split over {num_processes} processes "
                              f"x per_device_train_batch_size {self.per_device_train_batch_size}")
        return completions // per_step


@dataclass
class SFTRunConfig(TrainConfig):
    """The SFT baseline (paper: lr 5e-6, batch 64, 3 epochs, cosine, warm-up 0.3; srl_agent/resources/configs/sft_paper.yaml).
    form: `step` (target = expert thought in <think> + action, loss on the target only) or `trajectory`
    (whole trajectories as multi-turn chats, loss on assistant turns only); `auto` picks from the data."""

    learning_rate: float = 5e-6
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.3
    num_train_epochs: float = 3.0
    gradient_accumulation_steps: int | None = 8
    form: str = "auto"
    max_length: int = 2048
    packing: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_ranges(self, {"max_length": (1, None)})
        if self.form not in ("auto", "step", "trajectory"):
            raise ConfigError(f"form must be auto, step or trajectory; got {self.form!r}")


METHOD_OF: dict[type, str] = {SRLConfig: "srl", SFTRunConfig: "sft"}


def _check_ranges(config: object, ranges: dict[str, tuple]) -> None:
    """Each named field (when set) within (low, high[, "above": low excluded]); a ConfigError naming it otherwise."""
    for name, (low, high, *how) in ranges.items():
        value = getattr(config, name)
        if value is None:
            continue
        above = bool(how)
        if (value <= low if above else value < low) or (high is not None and value > high):
            bound = f"above {low}" if above else f"{low} or more"
            bound = f"{bound} and at most {high}" if high is not None else bound
            raise ConfigError(f"{name} must be {bound}, got {value}")


PRESET_DIR = resource_dir("configs")  # srl_agent/resources/configs
REPORTERS = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow", "trackio": "trackio",
             "comet_ml": "comet_ml", "clearml": "clearml", "dvclive": "dvclive", "swanlab": "swanlab", "none": None}


def preset_path(path: str | Path) -> Path:
    """A config file path, or the name of a preset in srl_agent/resources/configs/ (`srl_cpu` -> srl_agent/resources/configs/srl_cpu.yaml)."""
    p = Path(path)
    if p.exists():
        return p
    preset = PRESET_DIR / f"{p.name}.yaml"
    if p.suffix == "" and preset.exists():
        return preset
    names = ", ".join(sorted(x.stem for x in PRESET_DIR.glob("*.yaml"))) if PRESET_DIR.is_dir() else "none here"
    raise ConfigError(f"--config {p}: no such file and no such preset (presets: {names})")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The settings in a YAML file or preset (`method` and `schema` keys, as train_config.json has, dropped)."""
    import yaml

    from srl_agent.jsonio import read_text

    p = preset_path(path)
    text = read_text(p, expected="a YAML config (see srl_agent/resources/configs/*.yaml)", what="YAML config file")
    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{p}: must hold a mapping of settings (key: value lines), got {type(values).__name__}")
    values.pop("method", None)
    values.pop("schema", None)
    return values


def load_config(cls: type[TrainConfig], path: str | Path | None = None, *, settings: dict[str, Any] | None = None,
                **overrides: Any) -> TrainConfig:
    """A config of class `cls`: the YAML file (optional), then `settings` (`-c key=value`, nested dicts merge into
    the file's), then `overrides` (command-line flags; None values are ignored). Every value is coerced to its
    field's type, so `1e-5` is a float even where YAML 1.1 reads a string."""
    values: dict[str, Any] = {}
    if path:
        values = coerce_settings(cls, read_config_file(path), f"{preset_path(path)}: ")
    if settings:
        values = merge_settings(values, coerce_settings(cls, settings, "-c "))
    flags = {k: v for k, v in overrides.items() if v is not None}
    values.update(coerce_settings(cls, flags, ""))
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"bad settings for {cls.__name__}: {exc}") from None


def check_reporters(report_to: list[str]) -> None:
    """Each `report_to` name is one transformers knows and its package is installed (else the Trainer fails only
    after the model has loaded)."""
    import importlib.util

    for name in report_to:
        if name not in REPORTERS:
            raise ConfigError(f"report_to {name!r}: choose from {', '.join(REPORTERS)}")
        module = REPORTERS[name]
        if module and importlib.util.find_spec(module) is None:
            raise ConfigError(f"report_to {name}: the {module} package is not installed (pip install {module}, or "
                              "--report-to tensorboard|none)")
    if "none" in report_to and len(report_to) > 1:
        raise ConfigError(f"report_to {', '.join(report_to)}: `none` cannot be combined with a logger")
