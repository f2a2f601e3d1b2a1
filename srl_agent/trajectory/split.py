"""`srl traj split`: canonical trajectories -> one SRL step example per expert action, as a HF DatasetDict.

Example k of a trajectory: prompt = build_step_messages(task, steps[:k]) (system, task, last K rounds),
target = the canonical text of action k. Workers write Arrow shards; the parent picks the validation
trajectories (seeded, whole trajectories only) and saves the DatasetDict.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from srl_agent.actions import render
from srl_agent.errors import ConfigError, InputError
from srl_agent.jsonio import not_text
from srl_agent.prompts import PromptConfig, build_step_messages
from srl_agent.step_example import COLUMNS, StepExample, features, stamp
from srl_agent.trajectory.readers import Unit, map_units, plan_units
from srl_agent.trajectory.schema import Trajectory

UNIT_BYTES = 8 * 1024 * 1024
FLUSH_ROWS = 2000


@dataclass(frozen=True)
class SplitConfig:
    prompt: PromptConfig = PromptConfig()
    val_trajectories: int = 0
    include_unresolved: bool = False
    max_tokens: int = 8192      # with a tokenizer
    max_chars: int = 32768      # without one: prompt texts plus target, in characters
    tokenizer: str | None = None
    seed: int = 0
    workers: int | None = None


@dataclass
class SplitSummary:
    trajectories: int = 0
    used: int = 0
    unresolved_skipped: int = 0
    no_task_skipped: int = 0
    examples: int = 0
    over_budget: int = 0
    train_examples: int = 0
    val_examples: int = 0
    val_trajectories: int = 0
    tools: Counter = field(default_factory=Counter)

    def add(self, o: "SplitSummary") -> None:
        for k in ("trajectories", "used", "unresolved_skipped", "no_task_skipped", "examples", "over_budget"):
            setattr(self, k, getattr(self, k) + getattr(o, k))
        self.tools.update(o.tools)


_TOKENIZER = None


def _load_tokenizer(name: str | None):
    global _TOKENIZER
    if name and _TOKENIZER is None:
        from transformers import AutoTokenizer

        from srl_agent.errors import ModelLoadError
        try:
            _TOKENIZER = AutoTokenizer.from_pretrained(name)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load tokenizer {name!r} ({exc}); give a local path or an HF id") from None
    return _TOKENIZER


def _too_long(prompt: list[dict], target: str, cfg: SplitConfig) -> bool:
    if cfg.tokenizer:
        # Message texts plus the target, without chat-template tokens: keep some margin in the budget.
        tok = _load_tokenizer(cfg.tokenizer)
        text = "\n".join(m["content"] for m in prompt) + "\n" + target
        return len(tok(text, add_special_tokens=False)["input_ids"]) > cfg.max_tokens
    return sum(len(m["content"]) for m in prompt) + len(target) > cfg.max_chars


def trajectory_examples(traj: Trajectory, traj_id: int, cfg: SplitConfig, s: SplitSummary) -> dict[str, list]:
    cols: dict[str, list] = {c: [] for c in COLUMNS}
    src = f"{traj.source.file}#{traj.source.index}"
    n = len(traj.steps)
    for k, step in enumerate(traj.steps):
        prompt = build_step_messages(traj.task.problem_statement, traj.steps[:k], cfg.prompt)
        target = render(step.action)
        if _too_long(prompt, target, cfg):
            s.over_budget += 1
            continue
        row = StepExample(prompt, target, step.thought, traj.task.instance_id, k, n, step.action.tool, traj_id, src)
        for c, v in row.to_row().items():
            cols[c].append(v)
        s.examples += 1
        s.tools[step.action.tool] += 1
    return cols


def split_unit(args: tuple[Unit, SplitConfig, str]) -> tuple[SplitSummary, str | None]:
    """Examples of every trajectory in one byte range of the input, written to an Arrow shard."""
    import pyarrow as pa
    from datasets.arrow_writer import ArrowWriter

    unit, cfg, shard_dir = args
    s = SplitSummary()
    fd, path = tempfile.mkstemp(dir=shard_dir, suffix=".arrow")
    os.close(fd)
    feats = features()
    writer = ArrowWriter(features=feats, path=path)
    buffer: dict[str, list] = {c: [] for c in COLUMNS}

    def flush() -> None:
        # Whole tables through pyarrow are several times faster than ArrowWriter.write_batch on nested rows.
        if buffer["prompt"]:
            writer.write_table(pa.Table.from_pydict(buffer, schema=feats.arrow_schema))
            for col in buffer.values():
                col.clear()

    for lineno, line in _lines(unit):
        try:
            traj = Trajectory.from_dict(json.loads(line))
        except UnicodeDecodeError as exc:
            raise not_text(unit.path, exc, "canonical trajectory JSONL (`srl traj import` converts other formats)"
                           ) from None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{unit.path}:{lineno + 1}: not a canonical trajectory ({exc}); "
                             "run `srl traj import` to make one") from None
        s.trajectories += 1
        if not traj.task.problem_statement.strip():
            s.no_task_skipped += 1
            continue
        if traj.resolved is not True and not cfg.include_unresolved:
            s.unresolved_skipped += 1
            continue
        s.used += 1
        for c, values in trajectory_examples(traj, lineno, cfg, s).items():
            buffer[c].extend(values)
        if len(buffer["prompt"]) >= FLUSH_ROWS:
            flush()
    flush()
    writer.finalize()
    writer.close()
    return s, path


def _lines(unit: Unit):
    """(0-based line number, bytes) of the non-blank lines in a unit, read as a stream."""
    with open(unit.path, "rb") as fh:
        fh.seek(unit.start)
        pos = unit.start
        for n, line in enumerate(fh):
            if unit.end >= 0 and pos >= unit.end:
                break
            pos += len(line)
            if line.strip():
                yield unit.first_line + n, line


def split_trajectories(input_path: str | Path, output_dir: str | Path, cfg: SplitConfig = SplitConfig(), *,
                       jsonl: str | Path | None = None, progress: Callable[[int], None] | None = None) -> SplitSummary:
    import datasets

    input_path = Path(input_path)
    if not input_path.is_file():
        raise InputError(f"{input_path}: no such file (make one with `srl traj import SRC -o {input_path.name}`)")
    if input_path.suffix == ".gz":
        raise InputError(f"{input_path}: split reads plain JSONL; gunzip it first")
    workers = cfg.workers or max(1, min(len(os.sched_getaffinity(0)), 8))
    if cfg.tokenizer:
        _load_tokenizer(cfg.tokenizer)  # once, before forking, so workers share it
    units = plan_units([input_path], UNIT_BYTES if workers > 1 else 1 << 62)
    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    summary = SplitSummary()
    with tempfile.TemporaryDirectory(dir=output_dir.parent, prefix=".split-") as shard_dir:
        jobs = [(u, cfg, shard_dir) for u in units]
        results = map_units(split_unit, jobs, workers, progress and (lambda r: progress(r[0].trajectories)))
        for s, _ in results:
            summary.add(s)
        if summary.examples == 0:
            raise InputError(_nothing_message(summary, cfg))
        full = datasets.concatenate_datasets([datasets.Dataset.from_file(p) for _, p in results])
        dd = _assign(full, cfg, summary)
        dd.save_to_disk(str(output_dir))
        if jsonl:
            _export_jsonl(dd, Path(jsonl))
    return summary


def _assign(full, cfg: SplitConfig, summary: SplitSummary):
    import datasets

    traj_ids = full.data.column("trajectory").to_pylist()
    ids = sorted(set(traj_ids))
    n = cfg.val_trajectories
    if n and n >= len(ids):
        raise ConfigError(f"--val-trajectories {n} leaves no training trajectory ({len(ids)} usable); "
                          "ask for fewer")
    val = set(random.Random(cfg.seed).sample(ids, n)) if n else set()
    train_rows = [i for i, t in enumerate(traj_ids) if t not in val]
    splits = {"train": full.select(train_rows) if val else full}
    if val:
        splits["validation"] = full.select([i for i, t in enumerate(traj_ids) if t in val])
    summary.train_examples = len(splits["train"])
    summary.val_examples = len(splits["validation"]) if val else 0
    summary.val_trajectories = len(val)
    return stamp(datasets.DatasetDict(splits))


def _export_jsonl(dd, path: Path) -> None:
    """One file per split: PATH for train, PATH with `.validation` before the suffix for validation."""
    for name, ds in dd.items():
        out = path if name == "train" else path.with_name(f"{path.stem}.{name}{path.suffix or '.jsonl'}")
        ds.to_json(str(out), lines=True, force_ascii=False)


def _nothing_message(s: SplitSummary, cfg: SplitConfig) -> str:
    why = []
    if s.unresolved_skipped:
        why.append(f"{s.unresolved_skipped} trajectories are not marked resolved (pass --all to use them)")
    if s.no_task_skipped:
        why.append(f"{s.no_task_skipped} have no task text (re-import them with their problem statements)")
    if s.over_budget:
        limit = f"--max-tokens {cfg.max_tokens}" if cfg.tokenizer else f"--max-chars {cfg.max_chars}"
        why.append(f"{s.over_budget} examples are over the length budget ({limit})")
    return f"no step examples from {s.trajectories} trajectories: " + ("; ".join(why) or "the input is empty")


