"""One run of the experiment per (method, seed), in its own process: train under the CPU budget with
checkpoint selection, then the held-out measures of the selected model; the record goes to
<out>/runs/<method>-seed<k>.json (written last: a run with a record is done and is skipped on rerun)."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from evidence.budget import Counters, CpuClock, Selector, budget_callback, budgeted, step_scores
from evidence.data import EvidenceData, load_rows, seed_order

METHODS = ("base", "sft", "srl", "rlvr", "srl-then-rlvr")
BIG = 1_000_000  # max_steps / save_steps that never bind: the budget ends training


@dataclass
class Settings:
    """The protocol's numbers (docs/evidence-protocol.md); --quick shrinks them, the code stays the same."""

    budget: float = 150.0                 # B, CPU seconds of the trainer process
    seeds: int = 5
    max_new_tokens: int = 256             # held-out and selection decoding, per agent turn too
    agent_steps: int = 8
    prefix_ks: tuple = (1, 2, 3)
    selection_examples: int | None = None  # None: all
    heldout_examples: int | None = None
    heldout_tasks: int | None = None
    grade_cache: bool = True              # a (task, patch) already graded reuses its grade (heldout.py)
    eval_workers: int = 4                 # episodes in flight per run (they mostly wait on Docker)
    train: dict = field(default_factory=dict)  # extra overrides for every trainer (quick mode only)


QUICK = Settings(budget=4.0, seeds=1, max_new_tokens=32, agent_steps=2, prefix_ks=(1,), selection_examples=4,
                 heldout_examples=4, heldout_tasks=1,
                 train={"srl": {"max_completion_length": 32, "num_generations": 2, "prompts_per_batch": 1,
                                "per_device_train_batch_size": 2, "dynamic_sampling": {"max_rounds": 0}},
                        "rlvr": {"max_completion_length": 32, "num_generations": 2, "per_device_train_batch_size": 2,
                                 "max_episode_steps": 1, "workers": 2, "dynamic_sampling": {"max_rounds": 0}},
                        "sft": {"per_device_train_batch_size": 2}})


@dataclass
class Context:
    """What every run of one experiment shares (a JSON file the parent writes for its children)."""

    out: str
    student: str
    suite: str
    window: int
    base_selection: dict
    settings: dict
    pilot_steps: int | None = None

    @property
    def s(self) -> Settings:
        return Settings(**{**self.settings, "prefix_ks": tuple(self.settings["prefix_ks"])})

    def data(self) -> EvidenceData:
        from evidence.data import load_data

        return load_data(Path(self.out))  # the parent prepared it before starting any run


def run_path(out: Path, method: str, seed: int) -> Path:
    return out / "runs" / f"{method}-seed{seed}.json"


def _common(ctx: Context, seed: int, output_dir: Path, model: str) -> dict:
    return dict(model=model, seed=seed, output_dir=str(output_dir), max_steps=BIG, save_steps=BIG,
                save_total_limit=1, report_to=[], logging_steps=1)


def _method_overrides(method: str, ctx: Context, data: EvidenceData, seed: int) -> dict:
    """The protocol's recipe on top of the CPU preset: seed-ordered data read in order, RLVR on the training
    split's tasks without expert prefixes, SFT's cosine schedule sized by the pilot."""
    s = ctx.s
    extra = dict(s.train.get(method, {}))
    if method == "sft":
        # max_length is the student's window: sft_cpu's 1024 would cut the target off long prompts.
        return dict(data=str(seed_order(data, seed)), form="step", max_length=ctx.window, lr_scheduler_type="cosine",
                    warmup_ratio=0.3, max_steps=ctx.pilot_steps or BIG,
                    trl={"train_sampling_strategy": "sequential"}, **extra)
    if method == "srl":
        return dict(data=str(seed_order(data, seed)), trl={"shuffle_dataset": False}, **extra)
    if method == "rlvr":
        ds = {"enabled": True, **extra.pop("dynamic_sampling", {})}
        return dict(data=ctx.suite, split="train", tasks=list(data.training_ids), prefix={"enabled": False},
                    dynamic_sampling=ds, **extra)
    raise ValueError(method)


def _stage(method: str, ctx: Context, data: EvidenceData, seed: int, model: str, out: Path, clock: CpuClock,
           end: float, marks: list, selector: Selector | None, counters: Counters, stage: str) -> str:
    from srl_agent.train import run as train_run

    cb = budget_callback(clock, end, marks, selector, counters, stage)
    with budgeted(cb):
        overrides = {**_common(ctx, seed, out, model), **_method_overrides(method, ctx, data, seed)}
        result = train_run(method, f"{method.replace('-', '_')}_cpu", **overrides)
    return result.final_model_dir


def train(method: str, seed: int, ctx: Context, run_dir: Path, clock: CpuClock, counters: Counters,
          selector: Selector) -> None:
    data, b = ctx.data(), ctx.s.budget
    marks = [b / 4, b / 2, 3 * b / 4, b]
    if method == "srl-then-rlvr":
        final = _stage("srl", ctx, data, seed, ctx.student, run_dir / "srl", clock, b / 2, marks[:2], selector,
                       counters, "srl")
        _stage("rlvr", ctx, data, seed, final, run_dir / "rlvr", clock, b, marks[2:], selector, counters, "rlvr")
    else:
        _stage(method, ctx, data, seed, ctx.student, run_dir / "train", clock, b, marks, selector, counters, method)


def pilot(ctx: Context) -> dict:
    """SFT's step count for B on the training split (seed 0's order), no selection: its cosine schedule's length."""
    _threads()
    out = Path(ctx.out) / "pilot"
    shutil.rmtree(out, ignore_errors=True)
    clock, counters, wall = CpuClock(), Counters(), time.monotonic()
    _stage("sft", ctx, ctx.data(), 0, ctx.student, out, clock, ctx.s.budget, [], None, counters, "pilot")
    shutil.rmtree(out, ignore_errors=True)
    return {"steps": counters.steps, "cpu_seconds": round(clock.elapsed(), 2),
            "wall_seconds": round(time.monotonic() - wall, 1)}


def _threads() -> None:
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def run_one(method: str, seed: int, ctx: Context) -> dict:
    """Train (unless base), select, measure on held-out data, write the run's record; returns it."""
    from evidence.heldout import heldout_measures

    _threads()
    out = Path(ctx.out)
    run_dir = out / "runs" / f"{method}-seed{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)  # a run without its record starts over
    run_dir.mkdir(parents=True)
    load0, wall0, cpu0 = os.getloadavg()[0], time.monotonic(), time.process_time()
    clock, counters = CpuClock(), Counters()
    s = ctx.s
    selector = Selector(load_rows(ctx.data().selection_steps, s.selection_examples), run_dir / "best",
                        s.max_new_tokens, ctx.window, ctx.base_selection["step_reward"],
                        points=[{"cpu_seconds": 0.0, "step": 0, "stage": "start", **ctx.base_selection}])
    if method != "base":
        train(method, seed, ctx, run_dir, clock, counters, selector)
    train_wall = time.monotonic() - wall0 - clock.paused_wall
    model_dir = str(selector.best_dir) if selector.saved else ctx.student
    t = time.monotonic()
    measures = heldout_measures(model_dir, ctx, run_dir)
    rec = {"method": method, "seed": seed, "model": model_dir, "selected_at_cpu_seconds": selector.best_at,
           "selection": selector.points, **measures,
           "cost": {"train_cpu_seconds": round(clock.elapsed(), 2), "train_wall_seconds": round(train_wall, 1),
                    "selection_cpu_seconds": round(clock.paused, 2),
                    "selection_wall_seconds": round(clock.paused_wall, 1),
                    "heldout_wall_seconds": round(time.monotonic() - t, 1),
                    "process_cpu_seconds": round(time.process_time() - cpu0, 2),
                    "wall_seconds": round(time.monotonic() - wall0, 1), **asdict(counters),
                    "load_average": [round(load0, 2), round(os.getloadavg()[0], 2)],
                    "container_cpu_seconds": measures.pop("container_cpu_seconds", None)}}
    rec["cost"].pop("stage_tokens"), rec["cost"].pop("counting")
    path = run_path(out, method, seed)
    path.with_suffix(".tmp").write_text(json.dumps(rec, indent=1))
    path.with_suffix(".tmp").rename(path)
    return rec
