"""`srl traj stats`: counts, per-tool action mix and length percentiles of a canonical trajectory file."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from srl_agent.trajectory.schema import read_trajectories


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

    def to_dict(self) -> dict:
        return {"trajectories": self.trajectories, "steps": self.steps,
                "resolved": {str(k): v for k, v in self.resolved.items()}, "formats": dict(self.formats),
                "tools": dict(self.tools), "editor_commands": dict(self.editor_commands),
                "steps_per_trajectory": percentiles(self.steps_per_trajectory),
                "action_chars": percentiles(self.action_chars),
                "observation_chars": percentiles(self.observation_chars),
                "thought_chars": percentiles(self.thought_chars)}


def compute_stats(path: str | Path) -> TrajectoryStats:
    s = TrajectoryStats()
    for t in read_trajectories(path):
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
    return s


def format_stats(s: TrajectoryStats) -> str:
    lines = [f"trajectories {s.trajectories}   steps {s.steps}   "
             f"resolved {s.resolved.get(True, 0)} / unresolved {s.resolved.get(False, 0)} / "
             f"unknown {s.resolved.get(None, 0)}",
             "formats: " + ", ".join(f"{k} {v}" for k, v in s.formats.most_common()),
             "", "action mix:"]
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
