"""The `srl traj` command group: import, split, stats, show, replay, generate (one function per subcommand)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from srl_agent.cli.helpers import (add_split_arg, check_distinct, check_model, context_rounds, input_file,
                                   nonneg_int, output_dir, output_file, positive_float, positive_int, seed,
                                   suite_and_split, whole)
from srl_agent.errors import InputError, UsageError
from srl_agent.progress import progress


def register(sub) -> None:
    p = sub.add_parser("traj", help="expert trajectories: import, split, stats, show, replay, generate")
    tsub = p.add_subparsers(dest="traj_command", metavar="SUBCOMMAND", required=True)

    imp = tsub.add_parser("import", help="convert expert histories into canonical trajectories (JSONL)")
    imp.add_argument("sources", nargs="+", metavar="SRC", help="files or folders (JSON, JSONL, .traj, .gz, "
                     "parquet, arrow, saved HF datasets), Hub dataset ids (OWNER/NAME) or dataset repo folders")
    imp.add_argument("-o", "--output", required=True, metavar="OUT.jsonl", type=output_file)
    _import_options(imp)
    imp.add_argument("--workers", type=positive_int, default=None,
                     help="processes (default: the usable cores, max 8)")
    imp.set_defaults(func=cmd_import)

    _add_split(tsub)

    st = tsub.add_parser("stats", help="per source format: records, accepted, rejected by reason, steps, empty "
                                       "thoughts, missing patches, unknown resolution; action mix and lengths")
    st.add_argument("sources", nargs="+", metavar="SRC", help="a canonical file (its .rejects.jsonl beside it counts "
                    "too), or any input `srl traj import` reads (imported into a temporary file first)")
    st.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _import_options(st)
    st.set_defaults(func=cmd_stats)

    sh = tsub.add_parser("show", help="pretty-print one trajectory")
    sh.add_argument("file", metavar="FILE", type=input_file)
    sh.add_argument("--index", type=nonneg_int, default=0, help="which trajectory (0-based, default 0)")
    sh.set_defaults(func=cmd_show)

    _add_replay(tsub)
    _add_generate(tsub)


def _add_split(tsub) -> None:
    sp = tsub.add_parser("split", help="turn trajectories into SRL step examples (HF DatasetDict on disk)")
    sp.add_argument("input", metavar="IN.jsonl", type=input_file)
    sp.add_argument("-o", "--output", required=True, metavar="DIR", type=output_dir)
    sp.add_argument("--context-rounds", type=context_rounds, default=2, metavar="K",
                    help="earlier (action, observation) rounds in the prompt; -1 = all (default 2)")
    sp.add_argument("--val-trajectories", type=nonneg_int, default=0, metavar="N",
                    help="hold out N whole trajectories as the validation split (default 0)")
    sp.add_argument("--all", action="store_true", help="use every trajectory, not only those marked resolved")
    sp.add_argument("--show-thoughts", action="store_true", help="show earlier expert thoughts in <think>")
    sp.add_argument("--max-observation-chars", type=whole(64), default=4000, metavar="N",
                    help="observations longer than this are cut head + tail in prompts (default 4000)")
    sp.add_argument("--tokenizer", default=None, help="student tokenizer (path or HF id) for the token budget")
    sp.add_argument("--max-tokens", type=positive_int, default=8192, help="example budget with --tokenizer (default 8192)")
    sp.add_argument("--max-chars", type=positive_int, default=32768,
                    help="example budget without a tokenizer (default 32768)")
    sp.add_argument("--seed", type=seed, default=0, help="seed for choosing validation trajectories")
    sp.add_argument("--jsonl", default=None, metavar="FILE", type=output_file, help="also export the examples as JSONL")
    sp.add_argument("--workers", type=positive_int, default=None, help="processes (default: the usable cores, max 8)")
    sp.set_defaults(func=cmd_split)


def _add_replay(tsub) -> None:
    rp = tsub.add_parser("replay", help="re-run trajectories in their tasks' sandboxes; verify and grade them")
    rp.add_argument("file", metavar="TRAJ.jsonl", type=input_file)
    rp.add_argument("--tasks", required=True, metavar="SUITE[:split]", help="task suite name or path, optionally "
                    "SUITE:split")
    add_split_arg(rp)
    rp.add_argument("-o", "--output", required=True, metavar="REPORT.jsonl", type=output_file,
                    help="one result per trajectory; rerunning with the same file resumes")
    rp.add_argument("--keep-resolved", default=None, metavar="OUT.jsonl", type=output_file,
                    help="write the trajectories that resolve, with their fresh observations")
    rp.add_argument("--workers", type=positive_int, default=2, help="sandboxes at once (default 2)")
    rp.add_argument("--step-timeout", type=positive_float, default=120.0, help="seconds per step (default 120)")
    rp.add_argument("--grade-timeout", type=positive_float, default=900.0,
                    help="seconds for the test run (default 900)")
    rp.set_defaults(func=cmd_replay)


def _add_generate(tsub) -> None:
    gp = tsub.add_parser("generate", help="scripted expert: verified trajectories for a suite's tasks")
    gp.add_argument("--tasks", required=True, metavar="SUITE[:split]",
                    help="task suite name or path, optionally SUITE:split")
    add_split_arg(gp)
    gp.add_argument("-o", "--output", required=True, metavar="OUT.jsonl", type=output_file)
    gp.add_argument("--seed", type=seed, default=0, help="varies wording, order and commands (default 0)")
    gp.add_argument("--per-task", type=positive_int, default=1, metavar="N", help="trajectories per task (default 1)")
    gp.add_argument("--workers", type=positive_int, default=2, help="sandboxes at once (default 2)")
    gp.add_argument("--instance-ids", default=None, metavar="ID,ID", help="only these tasks")
    gp.set_defaults(func=cmd_generate)


def _import_options(p) -> None:
    p.add_argument("--format", default=None, help="force one importer instead of detecting per record")
    p.add_argument("--split", default=None, help="dataset split for Hub ids, dataset folders and parquet shards "
                   "(e.g. xml for SWE-bench/SWE-smith-trajectories; default: every split)")
    p.add_argument("--assume-resolved", action="store_true", help="mark trajectories whose source has no resolved "
                   "flag as resolved (datasets that are resolved-only by construction, such as SWE-smith's)")


def cmd_import(args) -> int:
    from srl_agent.trajectory.accounting import format_table
    from srl_agent.trajectory.importer import import_trajectories

    check_distinct(args.output, args.sources, "-o")
    with progress("import", unit="records") as bar:
        s = import_trajectories(args.sources, args.output, fmt=args.format, workers=args.workers,
                                progress=bar.update, assume_resolved=args.assume_resolved, split=args.split)
    print(f"{s.line()} -> {s.output}")
    if s.by_format:
        print(format_table(s.by_format))
    if s.rejected:
        top = ", ".join(f"{k} {v}" for k, v in s.reasons.most_common(5))
        print(f"rejects (by field: {top}) -> {s.rejects}")
    if s.accepted == 0:
        print("srl traj import: nothing was imported", file=sys.stderr)
        return 1
    return 0


def cmd_split(args) -> int:
    from srl_agent.prompts import PromptConfig
    from srl_agent.trajectory.split import SplitConfig, split_trajectories

    cfg = SplitConfig(prompt=PromptConfig(context_rounds=args.context_rounds, show_thoughts=args.show_thoughts,
                                          max_observation_chars=args.max_observation_chars),
                      val_trajectories=args.val_trajectories, include_unresolved=args.all,
                      max_tokens=args.max_tokens, max_chars=args.max_chars, tokenizer=args.tokenizer,
                      seed=args.seed, workers=args.workers)
    check_distinct(args.jsonl, [args.input], "--jsonl")
    check_model(args.tokenizer, "--tokenizer", tokenizer=True)
    with progress("split", unit="trajectories") as bar:
        s = split_trajectories(args.input, args.output, cfg, jsonl=args.jsonl, progress=bar.update)
    print(f"{s.used} of {s.trajectories} trajectories -> {s.examples} step examples "
          f"(train {s.train_examples}, validation {s.val_examples} from {s.val_trajectories} trajectories) "
          f"-> {args.output}")
    skipped = []
    if s.unresolved_skipped:
        skipped.append(f"{s.unresolved_skipped} not resolved (--all keeps them)")
    if s.no_task_skipped:
        skipped.append(f"{s.no_task_skipped} without task text")
    if skipped:
        print("skipped trajectories: " + "; ".join(skipped))
    if s.over_budget:
        print(f"dropped {s.over_budget} examples over the length budget")
    print("action mix: " + ", ".join(f"{k} {v}" for k, v in s.tools.most_common()))
    return 0


def cmd_stats(args) -> int:
    from srl_agent.trajectory.stats import format_stats, stats_of_sources

    s = stats_of_sources(args.sources, fmt=args.format, assume_resolved=args.assume_resolved, split=args.split)
    print(json.dumps(s.to_dict(), indent=2) if args.json else format_stats(s))
    rejected = sum(c.rejected for c in s.by_format.values())
    if s.trajectories == 0 and rejected:
        print(f"srl traj stats: no record of {', '.join(args.sources)} reads as a trajectory ({rejected} rejected, "
              "reasons above)", file=sys.stderr)
        return 1
    return 0


def cmd_show(args) -> int:
    from srl_agent.trajectory.show import format_trajectory, load_one

    print(format_trajectory(load_one(args.file, args.index), color=sys.stdout.isatty()))
    return 0


def _suite_tasks(args):
    from srl_agent.tasks import load_suite

    suite, split = suite_and_split(args.tasks, args.split)
    return suite, load_suite(suite, split=split)


def _count_records(path: str) -> int | None:
    """Non-empty lines of a JSONL file (.gz too): the total a progress line shows; None when unreadable."""
    import gzip

    try:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as fh:
            return sum(1 for line in fh if line.strip())
    except (OSError, EOFError):
        return None


def cmd_replay(args) -> int:
    from srl_agent.runner import Interrupted, graceful_stop
    from srl_agent.trajectory.replay import replay_file

    check_distinct(args.output, [args.file], "-o")
    check_distinct(args.keep_resolved, [args.file, args.output], "--keep-resolved")
    if args.keep_resolved and Path(args.keep_resolved).resolve() == Path(args.output).resolve():
        raise UsageError(f"--keep-resolved {args.keep_resolved}: is the -o report file too; give another file")
    suite, tasks = _suite_tasks(args)
    with graceful_stop("running replays") as stop, progress("replay", total=_count_records(args.file),
                                                             unit="traj") as bar:
        s = replay_file(args.file, tasks, args.output, suite_name=f"suite {suite!r}", keep_resolved=args.keep_resolved,
                        workers=args.workers, step_timeout=args.step_timeout, grade_timeout=args.grade_timeout,
                        progress=bar.update, stop=stop)
    print(f"{s.line()} ({s.replayed} replayed, {s.resumed} from an earlier run, {s.seconds:.0f}s) -> {args.output}")
    if s.kept is not None:
        print(f"kept {s.kept} verified trajectories -> {args.keep_resolved}")
    if s.interrupted:
        raise Interrupted(f"interrupted: {s.not_replayed} of {s.trajectories} trajectories not replayed yet; "
                          "rerun the same command to resume")
    if s.unknown_task:
        print(f"{s.unknown_task} trajectories name tasks not in {args.tasks} (status UNKNOWN_TASK in the report)",
              file=sys.stderr)
    if s.trajectories and s.unknown_task == s.trajectories:
        print("srl traj replay: no trajectory belongs to this suite; check --tasks", file=sys.stderr)
        return 1
    return 0


def cmd_generate(args) -> int:
    from srl_agent.trajectory.generate import generate_trajectories

    _, tasks = _suite_tasks(args)
    if args.instance_ids:
        wanted = set(args.instance_ids.split(","))
        missing = sorted(wanted - {t.instance_id for t in tasks})
        if missing:
            raise InputError(f"not in {args.tasks}: {', '.join(missing)}")
        tasks = [t for t in tasks if t.instance_id in wanted]
    with progress("generate", total=len(tasks), unit="task") as bar:
        s = generate_trajectories(tasks, args.output, seed=args.seed, per_task=args.per_task, workers=args.workers,
                                  progress=bar.update)
    print(f"{s.written} verified trajectories ({s.steps} steps) for {s.tasks} tasks in {s.seconds:.0f}s "
          f"-> {args.output}")
    for f in s.failures:
        print(f"FAILED {f.instance_id} #{f.attempt}: {f.reason[:400]}", file=sys.stderr)
    return 1 if s.failures else 0
