"""`srl traces view`: write the self-contained HTML viewer for a run directory, a trace or a trajectory file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from srl_agent.errors import InputError
from srl_agent.traces.schema import TRACE_SCHEMA, Trace


def load_any(path: str | Path) -> tuple[list[Trace], dict | None, str]:
    """Traces, summary and a title for: an eval run dir, one trace.json, or a canonical trajectory JSONL."""
    path = Path(path)
    if path.is_dir():
        from srl_agent.evaluation import load_run

        traces, summary = load_run(path)
        return traces, summary, f"srl eval run: {path.name}"
    if not path.is_file():
        raise InputError(f"{path}: no such file or directory (give a run directory from `srl eval`, a trace.json "
                         "or a trajectory .jsonl)")
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not JSON ({exc})") from None
        if isinstance(data, dict) and data.get("schema") == TRACE_SCHEMA:
            return [Trace.from_dict(data)], None, f"trace: {data.get('instance_id', path.name)}"
    from srl_agent.traces.expert import trace_from_trajectory
    from srl_agent.trajectory import read_trajectories

    traces = [trace_from_trajectory(t) for t in read_trajectories(path)]
    if not traces:
        raise InputError(f"{path}: no trajectories in the file")
    return traces, None, f"trajectories: {path.name}"


def write_report(path: str | Path, out: str | Path, *, expert: str | Path | None = None,
                 title: str | None = None) -> Path:
    """Render `path` (see load_any) to one HTML file at `out`; `expert` adds the expert's action per step."""
    from srl_agent.traces.expert import annotate, load_expert
    from srl_agent.traces.viewer import render_html

    traces, summary, default_title = load_any(path)
    if expert is not None:
        actions = load_expert(expert)
        for trace in traces:
            annotate(trace, actions.get(trace.instance_id))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(traces, title=title or default_title, summary=summary), encoding="utf-8")
    return out


def _view(args: argparse.Namespace) -> int:
    out = write_report(args.path, args.output, expert=args.expert, title=args.title)
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB); open it in any browser")
    return 0


def register(sub) -> None:
    p = sub.add_parser("traces", help="view traces and trajectories as a self-contained HTML page")
    tsub = p.add_subparsers(dest="traces_command", metavar="SUBCOMMAND", required=True)
    v = tsub.add_parser("view", help="write one self-contained HTML page (no network needed to open it)")
    v.add_argument("path", help="an `srl eval` run directory, a trace.json, or a canonical trajectory .jsonl")
    v.add_argument("-o", "--output", default="report.html", help="HTML file to write (default: report.html)")
    v.add_argument("--expert", default=None, metavar="TRAJ.jsonl",
                   help="expert trajectories: show the expert's action beside each step (matched by instance_id "
                        "and step index) with the step reward")
    v.add_argument("--title", default=None, help="page title")
    v.set_defaults(func=_view)
