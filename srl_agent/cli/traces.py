"""`srl traces view`: write the self-contained HTML viewer for an eval run, a trace, `srl eval-steps` outputs,
expert trajectories in any importable format, or SWE-bench predictions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from srl_agent.cli.helpers import check_distinct, check_output, context_rounds, input_path, nonneg_int, output_file
from srl_agent.traces.report import load_report, render, write_report_to

DEFAULT_LIMIT = 1000


def writable_file(path: str | Path, flag: str) -> Path:
    """`path` as an output file, checked before any work (srl_agent.cli.helpers.check_output), its folder made."""
    path = check_output(path, flag)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_report(path: str | Path, out: str | Path, *, expert: str | Path | None = None,
                 title: str | None = None, **kw) -> Path:
    """Render `path` to one HTML file at `out` (keywords as srl_agent.traces.report.load_report)."""
    return write_report_to(writable_file(out, "-o"), path, expert=expert, title=title, **kw)


def _view(args: argparse.Namespace) -> int:
    check_distinct(args.output, [args.path, args.expert], "-o")
    out = writable_file(args.output, "-o")
    view = load_report(args.path, expert=args.expert, tasks=args.tasks, fmt=args.format,
                       context_rounds=args.context_rounds, limit=args.limit or None)
    out.write_text(render(view, args.title), encoding="utf-8")
    for note in view.notes:
        print(f"note: {note}", file=sys.stderr)
    noun = {"steps": "step examples", "eval": "episodes", "expert": "trajectories", "predictions": "predictions"}
    what = f"{len(view.results) if view.kind == 'steps' else len(view.traces)} {noun[view.kind]}"
    print(f"wrote {out} ({what}, {out.stat().st_size // 1024} KiB); open it in any browser")
    return 0


def register(sub) -> None:
    p = sub.add_parser("traces", help="view traces and trajectories as a self-contained HTML page")
    tsub = p.add_subparsers(dest="traces_command", metavar="SUBCOMMAND", required=True)
    v = tsub.add_parser("view", help="write one self-contained HTML page (no network needed to open it)")
    v.add_argument("path", type=input_path, help="an `srl eval` run directory, a trace.json, `srl eval-steps -o` output (folder, "
                                "examples.jsonl or its .json), or expert trajectories in any format `srl traj "
                                "import` reads (SWE-agent .traj, SWE-smith, OpenHands, mini-swe-agent, nebius, "
                                "canonical JSONL, a folder of them), or SWE-bench predictions")
    v.add_argument("-o", "--output", default="report.html", type=output_file,
                   help="HTML file to write (default: report.html)")
    v.add_argument("--expert", default=None, metavar="TRAJECTORIES", type=input_path,
                   help="expert trajectories (any importable format): show the expert's action beside each step "
                        "(matched by instance_id and step index) with the step reward")
    v.add_argument("--tasks", default=None, metavar="SUITE[:split]",
                   help="task suite or tasks file: show each task's gold patch beside the final patch (an eval "
                        "run uses the suite in its config.json by default)")
    v.add_argument("--format", default=None, metavar="NAME",
                   help="importer to use for raw expert files when detection picks the wrong one (see `srl traj "
                        "import --help`)")
    v.add_argument("--context-rounds", type=context_rounds, default=2, metavar="K",
                   help="expert trajectories: rebuild each step's SRL prompt with the last K rounds, as `srl traj "
                        "split --context-rounds` (default: 2; -1 = all)")
    v.add_argument("--limit", type=nonneg_int, default=DEFAULT_LIMIT,
                   help=f"show the first N traces or examples (default: {DEFAULT_LIMIT}; 0 = all)")
    v.add_argument("--title", default=None, help="page title")
    v.set_defaults(func=_view)
