"""`srl train`: parse the options and hand them to srl_agent.train.run."""

from __future__ import annotations

import argparse
import json

from srl_agent.train import METHODS


def register(sub) -> None:
    p = sub.add_parser("train", help="train a student: " + " | ".join(METHODS),
                       description="Train a student on step examples (srl, sft) or trajectories (sft).",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--method", choices=sorted(METHODS), default="srl")
    p.add_argument("--data", default=None, help="step-example dataset dir (srl traj split) or trajectory JSONL (sft); "
                   "for rlvr a task suite (name or tasks file; default pypi-mutants)")
    p.add_argument("--suite", default=None, help="srl-then-rlvr: the task suite of the RLVR stage (default pypi-mutants)")
    p.add_argument("--model", default=None, help="`tiny` (the default student), an HF id or a local path")
    p.add_argument("--output", "-o", required=True, help="run directory: checkpoints, logs, final model")
    p.add_argument("--config", default=None, help="YAML file or preset name: srl_cpu, srl_paper, sft_cpu, sft_paper, rlvr_cpu, rlvr_paper, "
                   "srl_then_rlvr_cpu, srl_then_rlvr_paper")
    p.add_argument("--max-steps", type=int, default=None, help="stop after N optimizer steps")
    p.add_argument("--save-steps", type=int, default=None, help="checkpoint every N steps")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from srl_agent.errors import ConfigError
    from srl_agent.train import run

    if args.data is None and args.method in ("srl", "sft"):
        raise ConfigError(f"--method {args.method} needs --data (step examples from `srl traj split`, or JSONL for sft)")
    if args.suite is not None and args.method != "srl-then-rlvr":
        raise ConfigError("--suite is for --method srl-then-rlvr; for rlvr pass the suite as --data")
    result = run(args.method, args.config, resume=args.resume, data=args.data, model=args.model, suite=args.suite,
                 output_dir=args.output, max_steps=args.max_steps, save_steps=args.save_steps, seed=args.seed)
    print(json.dumps(result.__dict__, indent=2))
    return 0
