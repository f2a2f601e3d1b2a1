"""The `srl traj` command group: import, split, stats, show (one function per subcommand)."""

from __future__ import annotations

import json
import sys

from srl_agent.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("traj", help="expert trajectories: import, split, stats, show")
    tsub = p.add_subparsers(dest="traj_command", metavar="SUBCOMMAND", required=True)

    imp = tsub.add_parser("import", help="convert expert histories into canonical trajectories (JSONL)")
    imp.add_argument("sources", nargs="+", metavar="SRC", help="files or folders (JSON, JSONL, .traj, .gz, "
                     "parquet, arrow, saved HF datasets)")
    imp.add_argument("-o", "--output", required=True, metavar="OUT.jsonl")
    imp.add_argument("--format", default=None, help="force one importer instead of detecting per record")
    imp.add_argument("--workers", type=int, default=None, help="processes (default: the usable cores, max 8)")
    imp.set_defaults(func=cmd_import)

    sp = tsub.add_parser("split", help="turn trajectories into SRL step examples (HF DatasetDict on disk)")
    sp.add_argument("input", metavar="IN.jsonl")
    sp.add_argument("-o", "--output", required=True, metavar="DIR")
    sp.add_argument("--context-rounds", type=int, default=2, metavar="K",
                    help="earlier (action, observation) rounds in the prompt; -1 = all (default 2)")
    sp.add_argument("--val-trajectories", type=int, default=0, metavar="N",
                    help="hold out N whole trajectories as the validation split (default 0)")
    sp.add_argument("--all", action="store_true", help="use every trajectory, not only those marked resolved")
    sp.add_argument("--show-thoughts", action="store_true", help="show earlier expert thoughts in <think>")
    sp.add_argument("--max-observation-chars", type=int, default=4000)
    sp.add_argument("--tokenizer", default=None, help="student tokenizer (path or HF id) for the token budget")
    sp.add_argument("--max-tokens", type=int, default=8192, help="example budget with --tokenizer (default 8192)")
    sp.add_argument("--max-chars", type=int, default=32768, help="example budget without a tokenizer")
    sp.add_argument("--seed", type=int, default=0, help="seed for choosing validation trajectories")
    sp.add_argument("--jsonl", default=None, metavar="FILE", help="also export the examples as JSONL")
    sp.add_argument("--workers", type=int, default=None)
    sp.set_defaults(func=cmd_split)

    st = tsub.add_parser("stats", help="counts, action mix and length percentiles")
    st.add_argument("file", metavar="FILE")
    st.add_argument("--json", action="store_true", help="print JSON instead of a table")
    st.set_defaults(func=cmd_stats)

    sh = tsub.add_parser("show", help="pretty-print one trajectory")
    sh.add_argument("file", metavar="FILE")
    sh.add_argument("--index", type=int, default=0, help="which trajectory (0-based, default 0)")
    sh.set_defaults(func=cmd_show)


def _bar(desc: str, unit: str):
    from tqdm import tqdm

    return tqdm(desc=desc, unit=unit, disable=not sys.stderr.isatty(), leave=False)


def cmd_import(args) -> int:
    from srl_agent.trajectory.importer import import_trajectories

    with _bar("import", "records") as bar:
        s = import_trajectories(args.sources, args.output, fmt=args.format, workers=args.workers,
                                progress=bar.update)
    print(f"{s.line()} -> {s.output}")
    if s.formats:
        print("formats: " + ", ".join(f"{k} {v}" for k, v in s.formats.most_common()))
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
    if args.val_trajectories < 0:
        raise InputError("--val-trajectories must be 0 or more")
    with _bar("split", "trajectories") as bar:
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
    from srl_agent.trajectory.stats import compute_stats, format_stats

    s = compute_stats(args.file)
    print(json.dumps(s.to_dict(), indent=2) if args.json else format_stats(s))
    return 0


def cmd_show(args) -> int:
    from srl_agent.trajectory.show import format_trajectory, load_one

    print(format_trajectory(load_one(args.file, args.index), color=sys.stdout.isatty()))
    return 0
