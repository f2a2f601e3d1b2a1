"""Learning evidence: does the method learn on the project's own default? Base, SFT, SRL, RLVR, SRL-then-RLVR.

    python eval/learning_evidence.py [--quick] [-o runs/evidence] [--budget S] [--seeds N]

On the bundled suite (pypi-mutants) with the tiny default student on the CPU. Data: the verified expert
trajectories of the suite's train-split tasks become the training step examples (`srl traj split`, K=2);
those of its held-out (test-split) tasks become the validation step examples. Equal compute: every method
trains for the same **wall time** per seed (`--budget` seconds; srl-then-rlvr spends half in each stage). Wall
time and not generated tokens, because SFT generates none. The periodic held-out evaluations that draw the
curve are timed and left out of the budget. After training, each model is measured on held-out data: mean step
reward (the SRL similarity, -1 for malformed outputs) and parse rate on the validation step examples (greedy),
and the resolved rate and mean steps as an agent on held-out tasks (greedy, `--agent-steps` calls).
The final step reward is the curve's last point (the model as training ended, same examples).
Writes <out>/results.json, <out>/table.md, <out>/evidence.png (and docs/evidence.png with --docs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
METHODS = ("base", "sft", "srl", "rlvr", "srl-then-rlvr")


@dataclass
class Settings:
    budget: float = 75.0           # training wall seconds per method and seed
    seeds: int = 3
    val_examples: int = 24         # validation step examples (the curve's points and the final step reward)
    curve_points: int = 2          # points after the start, spread over the budget; the last is the final one
    heldout_tasks: int = 3
    agent_steps: int = 3
    max_new_tokens: int = 160      # per turn, for every method (SRL and RLVR sample this much too)
    rlvr_episode_steps: int = 3
    group: int = 4                 # G for SRL and RLVR
    prompts_per_step: int = 2      # SRL prompts per optimizer step (RLVR: 1 task)
    refill_rounds: int = 1         # dynamic-sampling refills per step


QUICK = Settings(budget=2.0, seeds=1, val_examples=4, curve_points=1, heldout_tasks=1,
                 agent_steps=1, max_new_tokens=32, rlvr_episode_steps=1, group=2, prompts_per_step=1,
                 refill_rounds=0)


# ---------------------------------------------------------------------------------------------------- data
def prepare_data(out: Path, quick: bool = False, suite: str = "pypi-mutants", trajectories: str | None = None
                 ) -> tuple[Path, list]:
    """(step-example DatasetDict dir with train + validation, held-out tasks) from the suite's trajectories."""
    from datasets import DatasetDict, load_from_disk

    from srl_agent.tasks import load_suite
    from srl_agent.trajectory import read_trajectories, write_trajectories
    from srl_agent.trajectory.split import SplitConfig, split_trajectories

    steps_dir = out / "data" / "steps"
    test_tasks = load_suite(suite, "test")
    if (steps_dir / "dataset_dict.json").is_file():
        return steps_dir, test_tasks
    train_ids = {t.instance_id for t in load_suite(suite, "train")}
    test_ids = {t.instance_id for t in test_tasks}
    files = [Path(trajectories)] if trajectories else sorted((REPO / "trajectories").glob("*.jsonl"))
    trajs = [t for f in files for t in read_trajectories(f)]
    if not any(t.task.instance_id in test_ids for t in trajs) or not any(t.task.instance_id in train_ids for t in trajs):
        from srl_agent.trajectory.generate import generate_trajectories

        # No bundled trajectories yet: the scripted expert writes verified ones (cached between runs).
        tasks = load_suite(suite)
        if quick:
            tasks = [t for t in tasks if t.instance_id in train_ids][:3] + [t for t in tasks if t.instance_id in test_ids][:2]
        gen = REPO / ".cache" / "evidence" / f"{suite}-{len(tasks)}.jsonl"
        if not gen.is_file():
            print(f"[evidence] no bundled trajectories: generating {len(tasks)} (scripted expert)", flush=True)
            gen.parent.mkdir(parents=True, exist_ok=True)
            generate_trajectories(tasks, gen.with_suffix(".tmp"), seed=0, workers=2)
            gen.with_suffix(".tmp").rename(gen)
        trajs = list(read_trajectories(gen))
    parts = {}
    for name, ids in (("train", train_ids), ("validation", test_ids)):
        path = out / "data" / f"{name}.jsonl"
        write_trajectories([t for t in trajs if t.task.instance_id in ids and t.resolved], path)
        split_trajectories(path, out / "data" / f"split-{name}", SplitConfig(workers=1))
        parts[name] = load_from_disk(str(out / "data" / f"split-{name}"))["train"]
    DatasetDict(parts).save_to_disk(str(steps_dir))
    return steps_dir, test_tasks


# ---------------------------------------------------------------------------------------------- measuring
def step_scores(model, tokenizer, rows, max_new_tokens: int) -> tuple[float, float]:
    """(mean step reward, parse rate) of greedy outputs on step examples."""
    import torch

    from srl_agent.actions import parse_completion
    from srl_agent.reward import step_reward

    was_training = model.training
    model.eval()
    tokenizer.padding_side = "left"
    rewards, parsed = [], []
    try:
        for i in range(0, len(rows["prompt"]), 8):
            prompts = rows["prompt"][i:i + 8]
            texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.no_grad():
                out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id)
            for row, expert in zip(out[:, enc["input_ids"].shape[1]:], rows["expert_action"][i:i + 8]):
                text = tokenizer.decode(row, skip_special_tokens=True)
                rewards.append(step_reward(text, expert))
                parsed.append(parse_completion(text).ok)
    finally:
        model.train(was_training)
    return sum(rewards) / len(rewards), sum(parsed) / len(parsed)


def budget_callback(seconds: float, curve: list, rows, s: Settings, offset: float = 0.0, points: int | None = None):
    """Stops training after `seconds` of training wall time and records held-out step reward at `points` times
    spread over it, the last when training stops (the evaluations' own time is not counted)."""
    from transformers import TrainerCallback

    points = points or s.curve_points
    marks = [seconds * (i + 1) / points for i in range(points - 1)]

    class Budget(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, processing_class=None, **kw):
            self.t0, self.paused, self.next = time.monotonic(), 0.0, 0

        def _point(self, elapsed, state, model, tok):
            t = time.monotonic()
            reward, parse = step_scores(model, tok, rows, s.max_new_tokens)
            curve.append({"seconds": round(offset + elapsed, 2), "step": state.global_step, "step_reward": reward,
                          "parse_rate": parse})
            self.paused += time.monotonic() - t

        def on_step_end(self, args, state, control, model=None, processing_class=None, **kw):
            elapsed = time.monotonic() - self.t0 - self.paused
            while self.next < len(marks) and elapsed >= marks[self.next]:
                self.next += 1
                self._point(elapsed, state, model, processing_class)
            if elapsed >= seconds:
                control.should_training_stop = True

        def on_train_end(self, args, state, control, model=None, processing_class=None, **kw):
            self._point(time.monotonic() - self.t0 - self.paused, state, model, processing_class)

    return Budget()


class budgeted:
    """Adds a callback to every Trainer built inside the block (transformers' DEFAULT_CALLBACKS), so SFT, SRL
    and RLVR are budgeted the same way without changing their entry points."""

    def __init__(self, callback) -> None:
        self.callback = callback

    def __enter__(self):
        import transformers.trainer as tt

        tt.DEFAULT_CALLBACKS.append(self.callback)

    def __exit__(self, *exc):
        import transformers.trainer as tt

        tt.DEFAULT_CALLBACKS.remove(self.callback)


def agent_scores(model_dir: str, tasks, run_dir: Path, s: Settings) -> dict:
    from srl_agent.agent import AgentConfig
    from srl_agent.evaluation import evaluate
    from srl_agent.policy.base import GenerationConfig
    from srl_agent.policy.transformers_policy import TransformersPolicy

    policy = TransformersPolicy(model_dir, gen=GenerationConfig(max_new_tokens=s.max_new_tokens, temperature=0.0))
    summary = evaluate(tasks, policy, run_dir, agent_config=AgentConfig(max_steps=s.agent_steps), progress=False,
                       record={"model": model_dir})
    return {"resolved_rate": summary["resolved_rate"], "mean_steps": summary["mean_steps"],
            "episodes": summary["episodes"]}


# ------------------------------------------------------------------------------------------------ training
def train_method(method: str, seed: int, student: str, steps_dir: Path, run: Path, s: Settings, rows) -> tuple[str, list]:
    from srl_agent.train import run as train_run

    curve: list = []
    # The budget, not a step count, ends training, so schedules that depend on the total step count (cosine,
    # warm-up as a fraction) would be wrong: every method runs at a constant learning rate from step 0.
    common = dict(model=student, seed=seed, max_steps=100_000, save_steps=100_000, report_to=[], logging_steps=1,
                  lr_scheduler_type="constant", warmup_ratio=0.0)
    rlvr = dict(max_episode_steps=s.rlvr_episode_steps, max_completion_length=s.max_new_tokens, max_open_tasks=2,
                num_generations=s.group, per_device_train_batch_size=s.group, prompts_per_batch=1,
                dynamic_sampling={"enabled": True, "max_rounds": s.refill_rounds})
    srl = dict(max_completion_length=s.max_new_tokens, num_generations=s.group, prompts_per_batch=s.prompts_per_step,
               per_device_train_batch_size=s.group * s.prompts_per_step,
               dynamic_sampling={"enabled": True, "epsilon": 1e-4, "max_rounds": s.refill_rounds})
    if method == "srl-then-rlvr":
        half = s.budget / 2
        with budgeted(budget_callback(half, curve, rows, s, points=1)):
            train_run("srl", "srl_cpu", data=str(steps_dir), output_dir=str(run / "srl"), **common, **srl)
        common["model"] = str(run / "srl" / "final")
        with budgeted(budget_callback(half, curve, rows, s, offset=curve[-1]["seconds"], points=1)):
            result = train_run("rlvr", "rlvr_cpu", output_dir=str(run / "rlvr"), **common, **rlvr)
    else:
        # SFT's max_length is the model's window: sft_cpu's 1024 would cut the targets off long prompts.
        extra = {"srl": srl, "sft": {"form": "step", "max_length": 4096}, "rlvr": rlvr}[method]
        data = {} if method == "rlvr" else {"data": str(steps_dir)}
        with budgeted(budget_callback(s.budget, curve, rows, s)):
            result = train_run(method, f"{method}_cpu", output_dir=str(run), **common, **data, **extra)
    return result.final_model_dir, curve


def run_all(out: Path, s: Settings, quick: bool, student: str | None = None, trajectories: str | None = None) -> dict:
    import torch

    from datasets import load_from_disk
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from srl_agent.policy.student import cached_student

    torch.set_num_threads(2)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    t_start = time.monotonic()
    student = student or str(cached_student(REPO / ".cache" / "test-students"))
    steps_dir, test_tasks = prepare_data(out, quick, trajectories=trajectories)
    val = load_from_disk(str(steps_dir))["validation"].shuffle(seed=0)
    # Examples whose prompt leaves no room for an answer in the student's 4096-token window are left out.
    tok = AutoTokenizer.from_pretrained(student)
    window = 4096 - s.max_new_tokens
    val = val.filter(lambda r: len(tok(tok.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True),
                                       add_special_tokens=False)["input_ids"]) <= window)
    results_note = {"validation_pool": len(val)}
    val_rows = val.select(range(min(s.val_examples, len(val))))[:]
    tasks = sorted(test_tasks, key=lambda t: t.instance_id)[:: max(1, len(test_tasks) // s.heldout_tasks)][:s.heldout_tasks]
    results: dict = {"settings": s.__dict__, "quick": quick, "student": student, "runs": [], **results_note}
    base_point: dict = {}
    for method in METHODS:
        for seed in range(s.seeds):
            run = out / "runs" / f"{method}-seed{seed}"
            if run.exists():
                shutil.rmtree(run)
            t0 = time.monotonic()
            if method == "base":
                if seed:  # greedy evaluation of fixed weights: the seeds would repeat the same numbers
                    results["runs"].append({**results["runs"][-1], "seed": seed})
                    continue
                model_dir = student
                reward, parse = step_scores(AutoModelForCausalLM.from_pretrained(student),
                                            AutoTokenizer.from_pretrained(student), val_rows, s.max_new_tokens)
                curve = [{"seconds": 0.0, "step": 0, "step_reward": reward, "parse_rate": parse}]
                base_point = curve[0]
            else:
                model_dir, curve = train_method(method, seed, student, steps_dir, run, s, val_rows)
                curve = [base_point] + curve  # every method starts from the base model
                reward, parse = curve[-1]["step_reward"], curve[-1]["parse_rate"]
            train_s = time.monotonic() - t0
            agent = agent_scores(model_dir, tasks, run / "eval", s)
            rec = {"method": method, "seed": seed, "step_reward": reward, "parse_rate": parse, **agent,
                   "curve": curve, "train_seconds": round(train_s, 1)}
            results["runs"].append(rec)
            print(f"[evidence] {method} seed {seed}: step reward {reward:.3f}, parse {parse:.2f}, resolved "
                  f"{agent['resolved_rate']:.2f}, steps {agent['mean_steps']:.1f} ({train_s:.0f}s)", flush=True)
            (out / "results.json").write_text(json.dumps(results, indent=2))
    results["total_seconds"] = round(time.monotonic() - t_start, 1)
    results["validation_examples"], results["heldout_tasks"] = len(val_rows["prompt"]), [t.instance_id for t in tasks]
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return results


# ------------------------------------------------------------------------------------------------ reporting
def _ms(values: list[float], fmt: str) -> str:
    mean = statistics.fmean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:{fmt}} ± {spread:{fmt}}"


def train_steps(run: dict) -> int:
    """Optimizer steps the run took: the last curve point's, plus the SRL stage's for srl-then-rlvr."""
    curve = run["curve"][1:]
    if not curve:
        return 0
    return curve[-1]["step"] + (curve[0]["step"] if run["method"] == "srl-then-rlvr" and len(curve) > 1 else 0)


def table(results: dict) -> str:
    s = results["settings"]
    lines = ["| method | held-out step reward | parse rate | resolved (held-out tasks) | mean agent steps | "
             "optimizer steps | seeds |", "|---|---|---|---|---|---|---|"]
    for method in METHODS:
        runs = [r for r in results["runs"] if r["method"] == method]
        if not runs:
            continue
        lines.append(f"| {method} | {_ms([r['step_reward'] for r in runs], '.3f')} | "
                     f"{_ms([r['parse_rate'] for r in runs], '.2f')} | {_ms([r['resolved_rate'] for r in runs], '.2f')} | "
                     f"{_ms([r['mean_steps'] for r in runs], '.1f')} | {_ms([train_steps(r) for r in runs], '.1f')} | "
                     f"{len(runs)} |")
    lines.append("")
    lines.append(f"Mean ± standard deviation over seeds. Budget {s['budget']:g} s of training wall time per method "
                 f"and seed; {results.get('validation_examples')} validation step examples, "
                 f"{len(results.get('heldout_tasks', []))} held-out tasks x {s['agent_steps']} agent steps. "
                 f"Whole experiment: {results.get('total_seconds', 0) / 60:.1f} min.")
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    base = [r["step_reward"] for r in results["runs"] if r["method"] == "base"]
    if base:
        ax.axhline(statistics.fmean(base), color="grey", ls="--", label="base (warm-started)")
    for method in METHODS[1:]:
        curves = [r["curve"] for r in results["runs"] if r["method"] == method and r["curve"]]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        xs = [statistics.fmean(c[i]["seconds"] for c in curves) for i in range(n)]
        ys = [statistics.fmean(c[i]["step_reward"] for c in curves) for i in range(n)]
        ax.plot(xs, ys, marker="o", label=method)
        if len(curves) > 1:
            sd = [statistics.stdev(c[i]["step_reward"] for c in curves) for i in range(n)]
            ax.fill_between(xs, [y - d for y, d in zip(ys, sd)], [y + d for y, d in zip(ys, sd)], alpha=0.15)
    ax.set_xlabel("training wall time (s)")
    ax.set_ylabel("held-out step reward (greedy)")
    ax.set_title("Tiny student on pypi-mutants: step reward during training")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a few minutes: one seed, tiny budgets (CI)")
    p.add_argument("-o", "--output", default=None, help="output dir (default runs/evidence or runs/evidence-quick)")
    p.add_argument("--budget", type=float, default=None, help="training wall seconds per method and seed")
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--docs", action="store_true", help="also copy the plot to docs/evidence.png")
    p.add_argument("--report", action="store_true", help="only redo the table and plot from <out>/results.json")
    p.add_argument("--student", default=None, help="model dir of the starting student (default: the tiny student)")
    p.add_argument("--trajectories", default=None, help="expert trajectory JSONL (default: trajectories/*.jsonl)")
    args = p.parse_args(argv)
    s = Settings(**{**(QUICK if args.quick else Settings()).__dict__})
    if args.budget is not None:
        s.budget = args.budget
    if args.seeds is not None:
        s.seeds = args.seeds
    out = Path(args.output or (REPO / "runs" / ("evidence-quick" if args.quick else "evidence")))
    out.mkdir(parents=True, exist_ok=True)
    if args.report:
        results = json.loads((out / "results.json").read_text())
    else:
        results = run_all(out, s, args.quick, student=args.student, trajectories=args.trajectories)
    text = table(results)
    (out / "table.md").write_text(text)
    plot(results, out / "evidence.png")
    if args.docs:
        shutil.copy(out / "evidence.png", REPO / "docs" / "evidence.png")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
