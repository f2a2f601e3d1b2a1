"""Runs a few SRL steps with dynamic sampling in this process (alone, or as one rank of `accelerate launch`) and
writes, per rank, which prompt groups each step's batch held: tests/train/test_dynamic_ranks.py compares them.

    python tests/train/dynamic_ranks.py STUDENT STEPS_DIR OUT --per-device 8
    accelerate launch --config_file srl_agent/resources/configs/accelerate/cpu_2proc.yaml tests/train/dynamic_ranks.py ... --per-device 4

The reward is scripted so that it does not depend on what was generated (generation differs between one process
and two): a prompt whose step_index is odd gets the same reward for every completion (no signal: dropped);
an even one gets 0, 1, 0, 1, ... for its copies in the call (signal: kept). So the groups a step keeps depend only
on which prompts were drawn, and one process and two must keep the same ones.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def scripted_reward(completions, step_index, instance_id, **_kwargs):
    seen: Counter = Counter()
    out = []
    for k, iid in zip(step_index, instance_id):
        copy = seen[(iid, k)]
        seen[(iid, k)] += 1
        out.append(0.25 if k % 2 else float(copy % 2))
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("student")
    p.add_argument("steps")
    p.add_argument("out")
    p.add_argument("--per-device", type=int, required=True)
    p.add_argument("--steps-to-run", type=int, default=2)
    args = p.parse_args()

    from datasets import load_from_disk

    from srl_agent.policy.student import load_student
    from srl_agent.train.config import SRLConfig
    from srl_agent.train.dynamic import DynamicSampling, make_trainer_class
    from srl_agent.train.srl import grpo_args

    world = int(os.environ.get("WORLD_SIZE", "1"))
    cfg = SRLConfig(data=args.steps, model=args.student, output_dir=str(Path(args.out) / "run"),
                    max_steps=args.steps_to_run, num_generations=4, prompts_per_batch=4,
                    per_device_train_batch_size=args.per_device, max_completion_length=6, learning_rate=1e-5,
                    bf16=False, save_steps=100, report_to=[], seed=3)
    tok_holder = {}
    batches: list[dict] = []

    class Recording(make_trainer_class()):
        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            if self.model.training:
                tok = tok_holder["tok"]
                keys = []
                for ids, mask in zip(out["prompt_ids"], out["prompt_mask"]):
                    text = tok.decode(ids[mask.bool()])
                    keys.append(hashlib.sha1(text.encode()).hexdigest()[:10])
                batches.append({"step": self.state.global_step, "rows": keys,
                                "advantages": [round(a, 4) for a in out["advantages"].tolist()],
                                "num_items_in_batch": int(out["num_items_in_batch"])})
            return out

    model, tok = load_student(args.student)
    tok_holder["tok"] = tok
    trainer = Recording(model=model, reward_funcs=[scripted_reward], args=grpo_args(cfg, world),
                        train_dataset=load_from_disk(args.steps)["train"], processing_class=tok,
                        dynamic_sampling=DynamicSampling(True, 1e-4, max_rounds=3))
    trainer.train()
    rank = trainer.accelerator.process_index
    logged = [h for h in trainer.state.log_history if "dynamic_sampling/dropped_frac" in h]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / f"rank{rank}.json").write_text(json.dumps({"world": world, "batches": batches,
                                                                  "logged": logged}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
