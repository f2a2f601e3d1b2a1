"""`srl eval` (the student as an agent on tasks in containers) and `srl eval-steps` (mean step reward)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from srl_agent.cli.helpers import (add_split_arg, check_input, check_model, check_output, check_steps_dataset,
                                   context_rounds, input_path, nonneg_float, output_dir, positive_float, positive_int,
                                   probability, seed, suite_and_split)
from srl_agent.errors import ConfigError, UsageError
from srl_agent.task_rows import DATASETS
from srl_agent.tasks.suite import split_suite_spec  # noqa: F401 - kept importable from here

MODES = ("agent", "oracle-files", "agentless")


def _add_policy_args(p: argparse.ArgumentParser, *, scripted: bool) -> None:
    kinds = ["transformers", "openai"] + (["scripted"] if scripted else [])
    p.add_argument("--model", required=True,
                   help="HF id, local path or `tiny` (transformers); served model name (openai)"
                        + ("; a canonical trajectory .jsonl to replay (scripted)" if scripted else ""))
    p.add_argument("--policy", choices=kinds, default="transformers", help="model backend (default: transformers)")
    p.add_argument("--base-url", default=None, help="openai: endpoint base URL (default: $OPENAI_BASE_URL, "
                                                    "else http://127.0.0.1:8000/v1)")
    p.add_argument("--temperature", type=nonneg_float, default=0.0, help="sampling temperature; 0 = greedy (default)")
    p.add_argument("--top-p", type=probability, default=1.0, help="nucleus sampling, in (0, 1] (default: 1)")
    p.add_argument("--max-new-tokens", type=positive_int, default=None,
                   help="per generation (default: 512 per agent step; 4096 in the edit modes)")
    p.add_argument("--seed", type=seed, default=None)


def _policy(args: argparse.Namespace, **kw):
    from srl_agent.policy.base import GenerationConfig, load_policy

    gen = GenerationConfig(max_new_tokens=args.max_new_tokens or 512, temperature=args.temperature,
                           top_p=args.top_p, seed=args.seed)
    if args.policy == "openai" and args.base_url:
        kw["base_url"] = args.base_url
    if args.policy == "scripted":
        kw = {}
    return load_policy(args.policy, args.model, gen, **kw)


def _eval(args: argparse.Namespace) -> int:
    from srl_agent.eval.agent import AgentConfig
    from srl_agent.eval.evaluation import config_record, evaluate
    from srl_agent.prompts import PromptConfig
    from srl_agent.tasks.rows import load_tasks
    from srl_agent.tasks.swebench import ensure_images

    check_policy_model(args)
    check_output(args.output, "-o", kind="folder")
    if args.mode == "agent" and args.judge != "srl":
        raise UsageError("--judge swebench is for --mode oracle-files / agentless; grade an agent run's "
                         "predictions.jsonl with `srl grade --judge swebench`")
    if args.mode != "agent":
        from srl_agent.cli.eval_modes import check_edit_args

        check_edit_args(args)
    suite, split = suite_and_split(args.tasks, args.split)
    tasks = load_tasks(suite, split=split, dataset=args.dataset)
    spec = f"{suite}:{split}" if split else suite  # one form in config.json, whichever the user typed
    if args.instance_ids:
        wanted = {x.strip() for x in args.instance_ids.split(",") if x.strip()}
        missing = sorted(wanted - {t.instance_id for t in tasks})
        if missing:
            raise UsageError(f"--instance-ids: not in {args.tasks}: {', '.join(missing[:5])}"
                             f"{' ...' if len(missing) > 5 else ''} (`srl tasks list {args.tasks}` shows the ids)")
        tasks = [t for t in tasks if t.instance_id in wanted]
    if args.limit is not None:
        tasks = tasks[: args.limit]
    if not tasks:
        raise ConfigError(f"no tasks selected from {args.tasks!r}")
    found = ensure_images(tasks)  # published rows: their images here (pulled if need be), or one error for all
    for t in tasks:
        t.image = found.get(t.instance_id, t.image)
    if args.mode != "agent":
        from srl_agent.cli.eval_modes import run_edit_mode

        return run_edit_mode(args, tasks, spec)
    if args.samples > 1 and args.temperature == 0 and args.policy != "scripted":
        print("note: --samples > 1 with greedy decoding repeats the same episode; set --temperature", file=sys.stderr)
    agent = AgentConfig(max_steps=args.max_steps, max_prompt_tokens=args.max_prompt_tokens,
                        time_limit_s=args.time_limit, command_timeout=args.command_timeout,
                        prompt=PromptConfig(context_rounds=args.context_rounds))
    expert = None
    if args.expert:
        from srl_agent.trajectory.to_trace import load_expert

        expert = load_expert(args.expert)
    policy = _policy(args, **({"batch_size": 1} if args.policy == "transformers" else {}))
    record = config_record(model=args.model, policy=args.policy, tasks=spec, agent=agent,
                           temperature=args.temperature, max_new_tokens=args.max_new_tokens or 512)
    from srl_agent.runner import Interrupted, graceful_stop

    with graceful_stop("running episodes") as stop:
        summary = evaluate(tasks, policy, args.output, agent_config=agent, samples=args.samples, workers=args.workers,
                           expert=expert, record=record, backend=args.backend, address=args.address, stop=stop)
    print_summary(summary, Path(args.output))
    if summary.get("interrupted"):
        raise Interrupted(f"interrupted: summary.json counts the {summary['episodes']} finished episodes; "
                          "rerun the same command to resume")
    return 0


def check_policy_model(args: argparse.Namespace) -> None:
    """--model as the backend reads it, checked before anything loads: a model for transformers, a trajectory
    file for scripted (an openai model name is the server's business)."""
    if args.policy == "transformers":
        check_model(args.model)
    elif args.policy == "scripted" and getattr(args, "mode", "agent") != "agent":
        if args.model != "gold":
            raise UsageError(f"--mode {args.mode}: the scripted policy is `--model gold` (the gold patch written as "
                             "search/replace edits); use --policy transformers or openai for a model")
    elif args.policy == "scripted":
        check_input(args.model, "--model", hint="the scripted policy replays a canonical trajectory JSONL")


def print_summary(s: dict, run_dir: Path) -> None:
    lo, hi = s["ci95"]
    rows = [("episodes", f"{s['episodes']} ({s['tasks']} tasks x {s['samples']} samples)"),
            ("resolved", f"{s['resolved']} = {100 * s['resolved_rate']:.1f}% (95% CI {100 * lo:.1f}-{100 * hi:.1f}%)")]
    rows += [(f"pass@{k}", f"{100 * v:.1f}%") for k, v in (s.get("pass_at_k") or {}).items()]
    rows += [("mean steps", f"{s['mean_steps']:.1f}"),
             ("format errors", f"{100 * s['format_error_rate']:.1f}% of steps"),
             ("stop reasons", ", ".join(f"{k} {v}" for k, v in s["stop_reasons"].items()))]
    if s.get("mean_step_reward") is not None:
        rows.append(("mean step reward", f"{s['mean_step_reward']:.3f}"))
    rows.append(("run", f"{run_dir} (view: srl traces view {run_dir} -o {run_dir / 'report.html'})"))
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))


def steps_outputs(output: str | None) -> tuple[Path | None, Path | None]:
    """(totals JSON, per-example JSONL) for `-o`: a directory gets summary.json + examples.jsonl in it; a path
    ending in .json (or an existing file) gets the totals there and the examples beside it as X.examples.jsonl."""
    from srl_agent.traces.step_results import EXAMPLES_FILE, SUMMARY_FILE

    if not output:
        return None, None
    path = Path(output)
    if path.suffix == ".json" or path.is_file():
        return path, path.with_name(path.stem + ".examples.jsonl")
    return path / SUMMARY_FILE, path / EXAMPLES_FILE


def _eval_steps(args: argparse.Namespace) -> int:
    from srl_agent.eval.evaluation import evaluate_steps
    from srl_agent.traces.schema import write_json

    check_policy_model(args)
    check_steps_dataset(args.data, "--data", split=args.split)
    summary_path, examples_path = steps_outputs(args.output)
    if summary_path is not None:
        # Checked before the model loads: a bad -o should not cost a model load and a whole run.
        check_output(summary_path, "-o")
        check_output(examples_path, "-o")
    policy = _policy(args, **({"batch_size": args.batch_size} if args.policy == "transformers" else {}))
    result = evaluate_steps(policy, args.data, split=args.split, limit=args.limit, batch_size=args.batch_size,
                            examples_out=examples_path)
    print(f"{result['examples']} step examples ({args.split}): mean step reward {result['mean_reward']:.4f}, "
          f"parse rate {100 * result['parse_rate']:.1f}%")
    for tool, r in result["by_tool"].items():
        print(f"  {tool:<20} n={r['n']:<5} reward {r['mean_reward']:.4f}  parse {100 * r['parse_rate']:.1f}%")
    if summary_path is not None:
        result["examples_file"] = examples_path.name
        write_json(summary_path, result)
        print(f"wrote {summary_path} and {examples_path} (view: srl traces view {args.output} -o steps.html)")
    return 0


def register(sub) -> None:
    _register_eval(sub)
    _register_eval_steps(sub)


def _register_eval(sub) -> None:
    p = sub.add_parser("eval", help="run a student on tasks in containers: as an agent, or in the paper's "
                                    "oracle-files / agentless settings")
    _add_policy_args(p, scripted=True)
    p.add_argument("--tasks", required=True, metavar="SUITE[:split]",
                   help="task suite name or path, optionally SUITE:split; or published rows (JSON/JSONL file, "
                        "swebench task repo, Hugging Face id)")
    add_split_arg(p)
    p.add_argument("--dataset", choices=DATASETS, default=None,
                   help="conventions of published rows when they cannot tell (SWE-Gym rows look like SWE-bench's)")
    p.add_argument("--mode", choices=MODES, default="agent",
                   help="agent: the student acts in a container step by step (default); oracle-files: the issue "
                        "and the gold files' contents in, SWE-RL search/replace edits out; agentless: localise "
                        "files from the repository listing, then the oracle-files edit step on them")
    p.add_argument("--judge", choices=("srl", "swebench"), default="srl",
                   help="edit modes: grade each patch with the project's grader (default) or all of them at the end "
                        "with swebench's own harness")
    p.add_argument("--max-files", type=positive_int, default=3,
                   help="agentless: localised files the edit step sees (default: 3)")
    p.add_argument("-o", "--output", required=True, type=output_dir,
                   help="run directory (resumes when it exists), e.g. runs/ID")
    p.add_argument("--workers", type=positive_int, default=1, help="episodes in parallel, one sandbox each (default: 1)")
    p.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="where sandboxes run: Docker on this machine, or Ray actors on a cluster (default: local)")
    p.add_argument("--address", default=None, help="ray: the cluster to join (e.g. auto, ray://head:10001; "
                                                   "default: $RAY_ADDRESS, else a local Ray started here)")
    p.add_argument("--max-steps", type=positive_int, default=30, help="step limit per episode (default: 30)")
    p.add_argument("--samples", type=positive_int, default=1, help="episodes per task, for pass@k (default: 1)")
    p.add_argument("--time-limit", type=positive_float, default=None,
                   help="wall-clock seconds per episode (default: none)")
    p.add_argument("--max-prompt-tokens", type=positive_int, default=None,
                   help="context limit in tokens (default: none)")
    p.add_argument("--command-timeout", type=positive_float, default=None,
                   help="seconds per command (sandbox default)")
    p.add_argument("--context-rounds", type=context_rounds, default=2,
                   help="earlier rounds in the prompt; -1 = all (default: 2)")
    p.add_argument("--expert", default=None, metavar="TRAJ.jsonl", type=input_path,
                   help="annotate steps with the expert's action and the step reward")
    p.add_argument("--instance-ids", default=None, help="comma-separated subset of tasks")
    p.add_argument("--limit", type=positive_int, default=None, help="first N tasks only")
    p.set_defaults(func=_eval)


def _register_eval_steps(sub) -> None:
    s = sub.add_parser("eval-steps", help="mean step reward of a student on held-out step examples")
    _add_policy_args(s, scripted=False)
    s.add_argument("--data", required=True, help="step-example dataset directory (from `srl traj split`)")
    s.add_argument("--split", default="validation", help="dataset split (default: validation)")
    s.add_argument("--limit", type=positive_int, default=None, help="first N examples only")
    s.add_argument("--batch-size", type=positive_int, default=8, help="prompts per generate call (default: 8)")
    s.add_argument("-o", "--output", default=None, metavar="DIR|FILE.json",
                   help="write the totals and every example (prompt, completion, parsed action or format error, "
                        "expert action, reward): DIR gets summary.json + examples.jsonl; FILE.json gets the "
                        "totals, with the examples beside it in FILE.examples.jsonl")
    s.set_defaults(func=_eval_steps)
