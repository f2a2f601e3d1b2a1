"""`srl demo`: the argument parsing of the whole-pipeline demo (srl_agent.demo runs the stages)."""

from __future__ import annotations

import argparse
from pathlib import Path

from srl_agent.cli.helpers import input_path, output_dir


def run_in_process(argv: list[str]) -> int:
    """One `srl` command run in this process (no second torch import): what each demo stage does."""
    from srl_agent.cli import build_parser

    args = build_parser(argv).parse_args(argv)
    return int(args.func(args) or 0)


def _demo(args: argparse.Namespace) -> int:
    import warnings

    # The stages' own progress stays (replay, eval-steps, training, eval); `srl` already hides library
    # deprecation notices and load/save bars (srl_agent.cli.helpers.configure_output) unless -v, and the
    # demo also hides the libraries' UserWarnings, which would bury the one line per stage.
    if getattr(args, "verbose", 0) <= 0:
        warnings.filterwarnings("ignore", category=UserWarning)
    from srl_agent.demo import run_demo, stages as st

    plan = st.QUICK if args.quick else st.FULL
    trajectories = Path(args.trajectories) if args.trajectories is not None else None
    run_demo(plan, Path(args.run_dir), run_in_process, fresh=args.fresh, trajectories=trajectories,
             reverify=args.reverify)
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo", help="the whole pipeline on the bundled default (tasks, expert trajectories, "
                                    "tiny student, SRL, evaluation, report)",
                       description="Build the bundled tasks, verify the bundled expert trajectories by replay, "
                                   "split them, train the tiny student with SRL, measure its step reward before "
                                   "and after, evaluate it as an agent on held-out tasks in containers, and write "
                                   "an HTML report. Stages already done in --run-dir are skipped.")
    p.add_argument("--quick", action="store_true", help="a small version (a handful of trajectories, a few "
                                                        "training steps, 3 tasks): about 5 minutes")
    p.add_argument("--run-dir", type=output_dir, default="runs/demo", help="where every output goes "
                                                                          "(default: runs/demo)")
    p.add_argument("--fresh", action="store_true", help="redo every stage in --run-dir (shared caches such as "
                                                        "images and the student stay)")
    p.add_argument("--reverify", action="store_true", help="replay the bundled trajectories even when this "
                   "machine verified the same files against the same task images and code before (the verified "
                   "replay is kept in $SRL_HOME/verified-replays)")
    p.add_argument("--trajectories", type=input_path, default=None, help=argparse.SUPPRESS)  # tests, development
    p.set_defaults(func=_demo)
