"""`srl train --method srl`: GRPO on step examples with the SRL step reward and dynamic sampling, on TRL."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srl_agent.progress import trainer_callback
from srl_agent.train.card import write_model_card
from srl_agent.train.config import SRLConfig, TrainConfig

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a training run left behind."""

    method: str
    output_dir: str
    global_step: int
    final_model_dir: str
    metrics_file: str
    resumed_from: str | None


def peft_config(config: TrainConfig):
    if config.lora is None:
        return None
    from peft import LoraConfig

    return LoraConfig(r=config.lora.r, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
                      target_modules=config.lora.target_modules, task_type="CAUSAL_LM")


def last_checkpoint(output_dir: str | Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir)) if Path(output_dir).is_dir() else None


def metrics_callback(path: Path):
    """Appends every logged metrics dict (with the step) to a JSONL file: easy to read without TensorBoard."""
    import json

    from transformers import TrainerCallback

    class _JsonlMetrics(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                with path.open("a") as f:
                    f.write(json.dumps({"step": state.global_step, **logs}) + "\n")

    return _JsonlMetrics()


def load_policy(config: TrainConfig):
    """(model, tokenizer) for config.model: `tiny` is the default student, anything else an HF id or path."""
    import torch

    from srl_agent.policy.student import load_student

    model, tokenizer = load_student(config.model, dtype=torch.bfloat16 if config.use_bf16() else None)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def grpo_args(config: SRLConfig, num_processes: int = 1):
    from trl import GRPOConfig

    kwargs: dict[str, Any] = config.common_trl_args()
    kwargs.update(
        gradient_accumulation_steps=config.accumulation_steps(num_processes),
        num_generations=config.num_generations, temperature=config.temperature, top_p=config.top_p,
        beta=config.beta, max_completion_length=config.max_completion_length,
        use_vllm=config.use_vllm, vllm_mode=config.vllm_mode, remove_unused_columns=False,
        shuffle_dataset=True,
    )
    kwargs.update(config.trl)
    return GRPOConfig(**kwargs)


def prepare_run(config: TrainConfig, resume: bool) -> tuple[str | None, Path]:
    out = Path(config.output_dir)
    ckpt = last_checkpoint(out) if resume else None
    if resume and ckpt is None:
        log.warning("[train] --resume: no checkpoint in %s yet; starting from the beginning", out)
    out.mkdir(parents=True, exist_ok=True)
    import json

    (out / "train_config.json").write_text(json.dumps(config.to_dict(), indent=2, default=str) + "\n")
    return ckpt, out / "metrics.jsonl"


def train_srl(config: SRLConfig, *, resume: bool = False, trainer_cls=None) -> TrainResult:
    """Run SRL (GRPO + step reward + dynamic sampling) and save the final model in output_dir/final."""
    from srl_agent.reward import make_srl_reward
    from srl_agent.train.data import load_steps
    from srl_agent.train.dynamic import make_trainer_class

    dataset = load_steps(config.data, config.split)
    model, tokenizer = load_policy(config)
    ckpt, metrics = prepare_run(config, resume)
    cls = trainer_cls or make_trainer_class()
    extra = {"dynamic_sampling": config.dynamic_sampling} if trainer_cls is None else {}
    trainer = cls(model=model, reward_funcs=[make_srl_reward(config.reward)], args=grpo_args(config),
                  train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config(config),
                  callbacks=[metrics_callback(metrics), trainer_callback()], **extra)
    trainer.train(resume_from_checkpoint=ckpt)
    final = Path(config.output_dir) / "final"
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    write_model_card(config, "srl", final, global_step=trainer.state.global_step, examples=len(dataset),
                     resumed_from=ckpt, metrics_file=metrics)
    return TrainResult("srl", config.output_dir, trainer.state.global_step, str(final), str(metrics), ckpt)
