"""`srl train --method sft`: the SFT baseline on TRL's SFTTrainer, on step examples or whole trajectories."""

from __future__ import annotations

from pathlib import Path

from srl_agent.progress import trainer_callback
from srl_agent.train.card import write_model_card
from srl_agent.train.config import SFTRunConfig
from srl_agent.train.srl import TrainResult, load_policy, metrics_callback, peft_config, prepare_run


def sft_dataset(config: SFTRunConfig):
    """(dataset, form): step examples as prompt/completion, or trajectories as {"messages"} chats."""
    from srl_agent.train.data import detect_form, load_steps, load_trajectory_chats, to_sft_steps

    form = detect_form(config.data) if config.form == "auto" else config.form
    if form == "trajectory":
        return load_trajectory_chats(config.data), form
    ds = load_steps(config.data, config.split)
    if "messages" in ds.column_names:  # a saved dataset of whole chats
        return ds.select_columns(["messages"]), "trajectory"
    return to_sft_steps(ds), "step"


def train_sft(config: SFTRunConfig, *, resume: bool = False) -> TrainResult:
    """Step form: loss on the target (thought + action) only. Trajectory form: loss on assistant turns only
    (how SWE-Gym-7B was trained); TRL swaps in its training variant of Qwen's chat template for the masks."""
    from trl import SFTConfig, SFTTrainer

    dataset, form = sft_dataset(config)
    model, tokenizer = load_policy(config)
    ckpt, metrics = prepare_run(config, resume)
    kwargs = config.common_trl_args()
    kwargs.update(gradient_accumulation_steps=config.gradient_accumulation_steps or 1,
                  max_length=config.max_length, packing=config.packing,
                  assistant_only_loss=form == "trajectory", completion_only_loss=None if form == "step" else False)
    kwargs.update(config.trl)
    trainer = SFTTrainer(model=model, args=SFTConfig(**kwargs), train_dataset=dataset, processing_class=tokenizer,
                         peft_config=peft_config(config), callbacks=[metrics_callback(metrics), trainer_callback()])
    trainer.train(resume_from_checkpoint=ckpt)
    final = Path(config.output_dir) / "final"
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    write_model_card(config, f"sft-{form}", final, global_step=trainer.state.global_step, examples=len(dataset),
                     unit="examples" if form == "step" else "trajectories", resumed_from=ckpt, metrics_file=metrics)
    return TrainResult(f"sft-{form}", config.output_dir, trainer.state.global_step, str(final), str(metrics), ckpt)
