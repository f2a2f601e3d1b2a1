"""Benchmark: seconds per SRL step (project trainer + srl_reward) vs plain TRL GRPOTrainer with a plain
difflib reward, same tiny student, data, seed and settings, measured in the same run.

Rows: plain TRL; the project with dynamic sampling off (the overhead of the trainer subclass and the reward);
the project with dynamic sampling on, whose extra generation rounds are reported apart (they are more work,
not overhead). Per optimizer step the CPU time of this process is measured (torch on one thread, so other
people's load on a shared machine does not count) beside wall time; first step excluded, median over repeats.
"""

from __future__ import annotations

import argparse
import difflib
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def plain_difflib_reward(completions, expert_action, **kwargs):
    from srl_agent.actions import parse_completion, render

    out = []
    for c, e in zip(completions, expert_action):
        text = c if isinstance(c, str) else c[0]["content"]
        p = parse_completion(text)
        out.append(difflib.SequenceMatcher(None, render(p.action), e, autojunk=False).ratio() if p.ok else -1.0)
    return out


def run(kind: str, student: Path, data: Path, steps: int, tmp: Path) -> dict:
    from datasets import load_from_disk
    from trl import GRPOTrainer

    from srl_agent.policy.student import load_student
    from srl_agent.reward import make_srl_reward
    from srl_agent.train.config import SRLConfig, load_config, preset_path
    from srl_agent.train.dynamic import DynamicSampling, make_trainer_class
    from srl_agent.train.srl import grpo_args

    cfg = load_config(SRLConfig, preset_path("srl_cpu"), data=str(data), model=str(student),
                      output_dir=str(tmp / kind), max_steps=steps, save_steps=10_000, report_to=[],
                      max_completion_length=64)
    model, tok = load_student(str(student))
    common = dict(model=model, args=grpo_args(cfg), processing_class=tok,
                  train_dataset=load_from_disk(str(data))["train"])
    if kind == "plain TRL + difflib reward":
        trainer = GRPOTrainer(reward_funcs=[plain_difflib_reward], **common)
    else:
        ds = DynamicSampling(enabled=kind.endswith("on"), epsilon=1e-4, max_rounds=2)
        trainer = make_trainer_class()(reward_funcs=[make_srl_reward()], dynamic_sampling=ds, **common)
    timer = _StepTimer()
    trainer.add_callback(timer)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h][1:]
    extra = [h.get("dynamic_sampling/extra_generations", 0.0) for h in logs]
    return {"step_s": statistics.median(timer.cpu[1:]), "wall_s": statistics.median(timer.wall[1:]),
            "extra": statistics.mean(extra) if extra else 0}


def _step_timer_class():
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.cpu, self.wall, self._t = [], [], (0.0, 0.0)

        def on_step_begin(self, args, state, control, **kw):
            self._t = (time.process_time(), time.perf_counter())

        def on_step_end(self, args, state, control, **kw):
            self.cpu.append(time.process_time() - self._t[0])
            self.wall.append(time.perf_counter() - self._t[1])

    return StepTimer


def _StepTimer():
    return _step_timer_class()()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from srl_agent.policy.student import cached_student
    from srl_agent.train.fixtures import step_dataset

    import torch

    torch.set_num_threads(1)
    student = cached_student(REPO / ".cache" / "test-students")
    kinds = ["plain TRL + difflib reward", "project, dynamic sampling off", "project, dynamic sampling on"]
    results: dict[str, list[dict]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        data = tmp / "steps"
        step_dataset(copies=2).save_to_disk(str(data))
        for r in range(args.repeat):  # interleaved, so load changes on a shared machine hit every row alike
            for k in kinds:
                results[k].append(run(k, student, data, args.steps, tmp / f"r{r}"))
    base = statistics.median(x["step_s"] for x in results[kinds[0]])
    base_wall = statistics.median(x["wall_s"] for x in results[kinds[0]])
    print(f"tiny student, srl_agent/resources/configs/srl_cpu.yaml (G=4, 2 prompts/step, 64 new tokens), {args.steps} steps x "
          f"{args.repeat} repeats, one torch thread, first step of each run excluded")
    print()
    print("| trainer | CPU s/step (median) | vs plain TRL | wall s/step | vs plain TRL | "
          "extra generations/step (dynamic sampling) |")
    print("|---|---|---|---|---|---|")
    for k in kinds:
        s = statistics.median(x["step_s"] for x in results[k])
        w = statistics.median(x["wall_s"] for x in results[k])
        extra = statistics.mean(x["extra"] for x in results[k])
        print(f"| {k} | {s:.2f} | {s / base - 1:+.1%} | {w:.2f} | {w / base_wall - 1:+.1%} | {extra:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
