"""Training configuration: one typed dataclass per method, loadable from YAML presets (configs/*.yaml).

A YAML file holds the fields of the method's config; `trl:` passes any further TRL argument through
unchanged (e.g. `loss_type`, `vllm_mode`). Command-line options override the file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srl_agent.errors import ConfigError
from srl_agent.reward import RewardConfig
from srl_agent.train.dynamic import DynamicSampling

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

    def use_bf16(self) -> bool:
        if self.bf16 != "auto":
            return bool(self.bf16)
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())

    def common_trl_args(self) -> dict[str, Any]:
        import torch

        extra: dict[str, Any] = {"gradient_checkpointing": True} if self.gradient_checkpointing else {}
        return extra | dict(output_dir=self.output_dir, max_steps=self.max_steps, num_train_epochs=self.num_train_epochs,
                    learning_rate=self.learning_rate, lr_scheduler_type=self.lr_scheduler_type,
                    warmup_steps=float(self.warmup_ratio), max_grad_norm=self.max_grad_norm,
                    per_device_train_batch_size=self.per_device_train_batch_size, bf16=self.use_bf16(),
                    seed=self.seed, data_seed=self.seed, save_strategy="steps", save_steps=self.save_steps,
                    save_total_limit=self.save_total_limit, logging_steps=self.logging_steps,
                    report_to=self.report_to, disable_tqdm=False,
                    dataloader_pin_memory=torch.cuda.is_available())

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "method": METHOD_OF.get(type(self), "?"), **dataclasses.asdict(self)}


@dataclass
class SRLConfig(TrainConfig):
    """SRL: GRPO with the step reward. Defaults are the paper's (configs/srl_paper.yaml): G=8, T=1.0, KL 0,
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
    """The SFT baseline (paper: lr 5e-6, batch 64, 3 epochs, cosine, warm-up 0.3; configs/sft_paper.yaml).
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
        if self.form not in ("auto", "step", "trajectory"):
            raise ConfigError(f"form must be auto, step or trajectory; got {self.form!r}")


METHOD_OF: dict[type, str] = {SRLConfig: "srl", SFTRunConfig: "sft"}


PRESET_DIR = Path(__file__).resolve().parents[2] / "configs"


def preset_path(path: str | Path) -> Path:
    """A config file path, or the name of a preset in configs/ (`srl_cpu` -> configs/srl_cpu.yaml)."""
    p = Path(path)
    if p.exists():
        return p
    preset = PRESET_DIR / f"{p.name}.yaml"
    if p.suffix == "" and preset.exists():
        return preset
    names = ", ".join(sorted(x.stem for x in PRESET_DIR.glob("*.yaml"))) if PRESET_DIR.is_dir() else "none here"
    raise ConfigError(f"config file {p} does not exist (presets: {names})")


def load_config(cls: type[TrainConfig], path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """A config of class `cls` from a YAML file (optional) with `overrides` (None values are ignored)."""
    values: dict[str, Any] = {}
    if path:
        import yaml

        p = preset_path(path)
        try:
            values = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p} is not valid YAML: {exc}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{p} must hold a mapping of settings")
        values.pop("method", None)
        values.pop("schema", None)
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s) for {cls.__name__}: {', '.join(unknown)} "
                          f"(put raw TRL arguments under `trl:`)")
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"bad settings for {cls.__name__}: {exc}") from None
