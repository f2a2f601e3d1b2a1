"""The model card of a trained model (README.md): base model, method, data, settings and where it came from.

TRL's own card names the base model only when it is a Hub id, so a student started from a local folder (the tiny
default, an earlier run's `final/`) got "fine-tuned version of [None]". This card always names it, and a
machine-readable `srl_training.json` beside the weights lets the next run (RLVR after SRL) name the whole chain.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from srl_agent import __version__

RECORD_FILE = "srl_training.json"
RECORD_SCHEMA = "srl-training/1"

METHODS = {
    "srl": "SRL (Supervised Reinforcement Learning): GRPO with the step-wise reward 2M/T between the student's "
           "next action and the expert's, with dynamic sampling",
    "sft-step": "SFT on step examples (loss on the expert's thought and next action)",
    "sft-trajectory": "SFT on whole expert trajectories as multi-turn chats (loss on assistant turns)",
    "rlvr": "RLVR: GRPO over whole agent episodes in task containers, reward 1 when the final patch resolves the "
            "task's tests",
}
SHOWN = ("learning_rate", "lr_scheduler_type", "warmup_ratio", "max_steps", "num_train_epochs",
         "per_device_train_batch_size", "gradient_accumulation_steps", "num_generations", "temperature", "beta",
         "prompts_per_batch", "max_completion_length", "max_episode_steps", "max_length", "bf16", "seed")


def describe_base(model: str) -> tuple[str, str | None]:
    """(how to name the base model in prose, its Hub id for the card's metadata or None)."""
    from srl_agent.policy.student import DEFAULT_NAME, default_student_dir

    path = default_student_dir() if model in ("", None, DEFAULT_NAME) else Path(model).expanduser()
    if not path.exists():
        return f"`{model}`", str(model)
    record = _read_json(path / RECORD_FILE)
    if record:
        return (f"`{path}` (itself {record.get('base_model_text', record.get('base_model'))} trained with "
                f"{record.get('method')} on `{record.get('data')}`)"), record.get("base_model_id")
    student = _read_json(path / "student.json")
    if student:
        return (f"the srl-agent tiny default student ({student.get('parameters', 0):,} parameters, Qwen2 "
                f"architecture, built by `srl student init`) at `{path.resolve()}`"), None
    return f"`{path.resolve()}`", None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _last_metrics(path: Path | None) -> dict[str, float]:
    if path is None or not path.is_file():
        return {}
    last: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        last.update({k: v for k, v in row.items() if isinstance(v, (int, float)) and k != "step"})
    keep = ("loss", "reward", "rlvr/resolved_rate", "train_loss", "train_runtime")
    return {k: last[k] for k in keep if k in last}


def render_card(config, method: str, *, global_step: int, examples: int | None = None, unit: str = "examples",
                resumed_from: str | None = None, metrics_file: str | Path | None = None) -> tuple[str, dict]:
    """(README.md text, the srl_training.json record) for a model trained with `config` by `method`."""
    import trl

    base_text, base_id = describe_base(config.model)
    shown_data = str(Path(config.data).resolve()) if Path(config.data).exists() else config.data
    data = f"`{shown_data}`" + (f" (split {config.split}, {examples:,} {unit})" if examples is not None else "")
    settings = ", ".join(f"{k} {getattr(config, k)}" for k in SHOWN if getattr(config, k, None) not in (None, -1))
    lora = f"; LoRA r={config.lora.r}, alpha={config.lora.alpha}" if getattr(config, "lora", None) else ""
    metrics = _last_metrics(Path(metrics_file) if metrics_file else None)
    front = ["---", "library_name: transformers", "pipeline_tag: text-generation",
             "tags: [srl-agent, " + ("srl, grpo" if method == "srl" else "rlvr, grpo" if method == "rlvr" else "sft")
             + ", trl, swe-agent]"]
    if base_id:
        front.insert(1, f"base_model: {base_id}")
    rows = [("base model", base_text), ("method", f"`{method}`: {METHODS.get(method, method)}"), ("data", data),
            ("training", f"{global_step} optimizer steps" + (f", resumed from `{resumed_from}`" if resumed_from else "")),
            ("settings", settings + lora + " (all of them: `train_config.json` in the run folder)")]
    if metrics:
        rows.append(("last logged", ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())))
    rows.append(("made by", f"srl-agent {__version__} on TRL {trl.__version__}"))
    text = "\n".join(front + ["---", "", f"# {Path(config.output_dir).name}", "",
                              f"{base_text[0].upper() + base_text[1:]} trained with {METHODS.get(method, method)}.",
                              "", "| | |", "|---|---|"]
                     + [f"| {k} | {v} |" for k, v in rows]
                     + ["", "Use it:", "", "```bash",
                        f"srl eval --model {Path(config.output_dir) / 'final'} --tasks pypi-mutants:test -o runs/eval",
                        "```", ""])
    record = {"schema": RECORD_SCHEMA, "base_model": config.model, "base_model_text": base_text,
              "base_model_id": base_id, "method": method, "data": shown_data, "split": config.split,
              "examples": examples, "global_step": global_step, "srl_agent": __version__}
    return text, record


def write_model_card(config, method: str, final_dir: str | Path, **kw: Any) -> Path:
    """Write README.md (and srl_training.json) into `final_dir`, and the card into the run folder too, where TRL's
    checkpoint-time card would otherwise stay."""
    text, record = render_card(config, method, **kw)
    final = Path(final_dir)
    (final / "README.md").write_text(text, encoding="utf-8")
    (final / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    run_dir = Path(config.output_dir)
    if run_dir.is_dir():
        (run_dir / "README.md").write_text(text, encoding="utf-8")
    return final / "README.md"
