"""`srl traj stats`: per source format what was kept and lost, the per-tool action mix and length percentiles.

The input is a canonical file (its `.rejects.jsonl` beside it, when there is one, gives the rejected records), or
anything `srl traj import` reads (files, folders, dataset ids), which is then imported into a temporary file first.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from srl_agent.trajectory.accounting import UNDETECTED, FormatCounts, format_table
from srl_agent.trajectory.schema import SCHEMA, read_trajectories


def percentiles(values: list[int], qs=(50, 90, 99)) -> dict[str, int]:
    """Nearest-rank percentiles plus the max; zeros for an empty list."""
    if not values:
        return {**{f"p{q}": 0 for q in qs}, "max": 0}
    v = sorted(values)
    out = {f"p{q}": v[min(len(v) - 1, max(0, -(-q * len(v) // 100) - 1))] for q in qs}
    out["max"] = v[-1]
    return out


@dataclass
class TrajectoryStats:
    trajectories: int = 0
    steps: int = 0
    resolved: Counter = field(default_factory=Counter)
    formats: Counter = field(default_factory=Counter)
    tools: Counter = field(default_factory=Counter)
    editor_commands: Counter = field(default_factory=Counter)
    steps_per_trajectory: list[int] = field(default_factory=list)
    action_chars: list[int] = field(default_factory=list)
    observation_chars: list[int] = field(default_factory=list)
    thought_chars: list[int] = field(default_factory=list)
    by_format: dict[str, FormatCounts] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"trajectories": self.trajectories, "steps": self.steps,
                "by_source_format": {k: v.to_dict() for k, v in sorted(self.by_format.items())},
                "resolved": {str(k): v for k, v in self.resolved.items()}, "formats": dict(self.formats),
                "tools": dict(self.tools), "editor_commands": dict(self.editor_commands),
                "steps_per_trajectory": percentiles(self.steps_per_trajectory),
                "action_chars": percentiles(self.action_chars),
                "observation_chars": percentiles(self.observation_chars),
                "thought_chars": percentiles(self.thought_chars)}


def is_canonical_file(path: str | Path) -> bool:
    """A JSONL (optionally .gz) file whose first record is a canonical trajectory."""
    p = Path(path)
    if not p.is_file() or not p.name.endswith((".jsonl", ".jsonl.gz")):
        return False
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(rec, dict) and rec.get("schema") == SCHEMA
    return False


def _count_rejects(path: Path, by_format: dict[str, FormatCounts]) -> None:
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                r = json.loads(line)
                by_format.setdefault(r.get("format") or UNDETECTED, FormatCounts()).reject(r["field"], r["reason"])


def compute_stats(path: str | Path, *, rejects: str | Path | None = None) -> TrajectoryStats:
    """Stats of a canonical file; the rejected records come from `rejects` (default: the file's own rejects file)."""
    s = TrajectoryStats()
    for t in read_trajectories(path):
        s.by_format.setdefault(t.source.format, FormatCounts()).accept(t)
        s.trajectories += 1
        s.steps += len(t.steps)
        s.resolved[t.resolved] += 1
        s.formats[t.source.format] += 1
        s.steps_per_trajectory.append(len(t.steps))
        for step in t.steps:
            s.tools[step.action.tool] += 1
            if step.action.tool == "str_replace_editor":
                s.editor_commands[step.action.args.get("command", "?")] += 1
            s.action_chars.append(len(step.action.render()))
            s.observation_chars.append(len(step.observation))
            s.thought_chars.append(len(step.thought))
    _count_rejects(Path(rejects) if rejects else Path(str(path) + ".rejects.jsonl"), s.by_format)
    return s


def stats_of_sources(sources: list[str], **import_options) -> TrajectoryStats:
    """Stats of one canonical file as it is, or of any other input as `srl traj import` would convert it."""
    if len(sources) == 1 and is_canonical_file(sources[0]) and not import_options.get("fmt"):
        return compute_stats(sources[0])
    from srl_agent.trajectory.importer import import_trajectories

    with tempfile.TemporaryDirectory(prefix="srl-stats-") as tmp:
        out = Path(tmp) / "imported.jsonl"
        summary = import_trajectories(sources, out, **import_options)
        return compute_stats(out, rejects=summary.rejects)


def format_stats(s: TrajectoryStats) -> str:
    lines = [f"trajectories {s.trajectories}   steps {s.steps}   "
             f"resolved {s.resolved.get(True, 0)} / unresolved {s.resolved.get(False, 0)} / "
             f"unknown {s.resolved.get(None, 0)}",
             "", format_table(s.by_format), "", "action mix:"]
    for tool, n in s.tools.most_common():
        lines.append(f"  {tool:<24} {n:>8}  {100 * n / max(s.steps, 1):5.1f}%")
    for cmd, n in s.editor_commands.most_common():
        lines.append(f"    {'editor ' + cmd:<22} {n:>8}  {100 * n / max(s.steps, 1):5.1f}%")
    lines += ["", f"{'lengths':<24} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>9}"]
    for name, values in (("steps / trajectory", s.steps_per_trajectory), ("action chars", s.action_chars),
                         ("observation chars", s.observation_chars), ("thought chars", s.thought_chars)):
        p = percentiles(values)
        lines.append(f"  {name:<22} {p['p50']:>8} {p['p90']:>8} {p['p99']:>8} {p['max']:>9}")
    return "\n".join(lines)
