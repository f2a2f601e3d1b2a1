"""`srl eval --mode oracle-files | agentless`: build the mode's policy and step from the parsed arguments, run,
print the summary (srl_agent/cli/eval.py parses the arguments and loads the tasks)."""

from __future__ import annotations

import argparse
from pathlib import Path

from srl_agent.errors import ConfigError, UsageError
from srl_agent.task import Task

EDIT_MAX_NEW_TOKENS = 4096


def edit_policy(args: argparse.Namespace):
    """The gold-edit script for `--policy scripted --model gold`, else the model backend the flags name."""
    if args.policy == "scripted":  # srl_agent.cli.eval.check_policy_model checked --model gold
        from srl_agent.eval.modes.scripted import GoldEditPolicy

        return GoldEditPolicy()
    from srl_agent.cli.eval import _policy

    if args.max_new_tokens is None:
        args.max_new_tokens = EDIT_MAX_NEW_TOKENS
    return _policy(args, **({"batch_size": 1} if args.policy == "transformers" else {}))


def check_edit_args(args: argparse.Namespace) -> None:
    """What the edit modes cannot do, refused before any task loads."""
    if args.samples != 1 or args.expert or args.backend != "local":
        raise UsageError(f"--mode {args.mode} runs one sample per task on local Docker: drop --samples, --expert "
                         "and --backend")


def run_edit_mode(args: argparse.Namespace, tasks: list[Task], spec: str) -> int:
    from srl_agent.eval.modes.agentless import AgentlessConfig, agentless_step
    from srl_agent.eval.modes.oracle import OracleConfig, oracle_step
    from srl_agent.eval.modes.runner import evaluate_edits

    no_gold = [t.instance_id for t in tasks if not t.gold_patch]
    if args.mode == "oracle-files" and no_gold:
        raise ConfigError(f"--mode oracle-files shows the gold patch's files, and {len(no_gold)} task(s) have no gold "
                          f"patch (e.g. {no_gold[0]})")
    policy = edit_policy(args)
    if args.mode == "oracle-files":
        step = oracle_step(OracleConfig(max_prompt_tokens=args.max_prompt_tokens))
    else:
        step = agentless_step(AgentlessConfig(max_files=args.max_files, max_prompt_tokens=args.max_prompt_tokens))
    record = {"model": args.model, "policy": args.policy, "tasks": spec, "temperature": args.temperature,
              "max_new_tokens": args.max_new_tokens, "judge": args.judge,
              "max_files": args.max_files if args.mode == "agentless" else None}
    summary = evaluate_edits(tasks, policy, args.output, step, mode=args.mode, workers=args.workers, record=record,
                             batch_grader=swebench_batch_grader(Path(args.output), args.model, args.workers)
                             if args.judge == "swebench" else None)
    print_edit_summary(summary, Path(args.output))
    return 0


def swebench_batch_grader(run_dir: Path, model: str, workers: int):
    """Grade a run's patches with swebench's own harness (its logs under RUN/swebench-judge)."""
    from srl_agent.grading_batch import Prediction, grade_with_swebench

    def grade(tasks: list[Task], patches: dict[str, str]):
        preds = [Prediction(t.instance_id, model, patches[t.instance_id]) for t in tasks]
        return grade_with_swebench(preds, tasks, run_dir / "swebench-judge", workers=workers)

    return grade


def print_edit_summary(s: dict, run_dir: Path) -> None:
    lo, hi = s["ci95"]
    st = s["statuses"]
    rows = [("mode", s["mode"]), ("tasks", f"{s['episodes']} graded or scored ({s['not_run']} not run: "
                                            "infrastructure errors, rerun to retry)"),
            ("resolved", f"{s['resolved']} = {100 * s['resolved_rate']:.1f}% (95% CI {100 * lo:.1f}-{100 * hi:.1f}%)"),
            ("format errors", f"{st['format_error']} ({100 * s['format_error_rate']:.1f}%)"),
            ("other", f"context limit {st['context_limit']}, localisation errors {st['localization_error']}"),
            ("run", f"{run_dir} (predictions: {run_dir / 'predictions.jsonl'})")]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
