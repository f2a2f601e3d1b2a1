"""Expert side of a trace: a canonical trajectory as a Trace, and student traces annotated with the expert
action at the same step index and the step reward against it."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable

from srl_agent.actions import render
from srl_agent.traces.schema import Trace, TraceStep


def step_reward(completion: str, expert_action: str) -> float:
    """The SRL step reward of a raw completion: similarity of its action to the expert's, -1 if malformed.
    Uses srl_agent.reward when it is there so the numbers are the trainer's."""
    try:
        from srl_agent.reward import step_reward as reward_fn
    except ImportError:
        from srl_agent.actions import parse_completion

        parsed = parse_completion(completion)
        if not parsed.ok:
            return -1.0
        return difflib.SequenceMatcher(None, render(parsed.action), expert_action, autojunk=False).ratio()
    return float(reward_fn(completion, expert_action))


def trace_from_trajectory(traj) -> Trace:
    """Render a canonical expert trajectory as a Trace (stop reason 'expert'), so the viewer shows both."""
    steps = [TraceStep(index=i, raw_output="", think=s.thought, action=render(s.action), tool=s.action.tool,
                       observation=s.observation, exit_code=s.exit_code) for i, s in enumerate(traj.steps)]
    grade = None
    if traj.resolved is not None:
        grade = {"status": "FULL" if traj.resolved else "NO", "resolved": bool(traj.resolved),
                 "source": "trajectory record"}
    return Trace(instance_id=traj.task.instance_id, steps=steps, stop_reason="expert", patch=traj.patch or "",
                 grade=grade, problem_statement=traj.task.problem_statement,
                 model=f"expert ({traj.source.format})", meta={"source": traj.source.to_dict()})


def expert_actions(trajectories: Iterable) -> dict[str, list[str]]:
    """instance_id -> the expert's canonical actions, first trajectory per task."""
    out: dict[str, list[str]] = {}
    for traj in trajectories:
        out.setdefault(traj.task.instance_id, [render(s.action) for s in traj.steps])
    return out


def load_expert(path: str | Path) -> dict[str, list[str]]:
    from srl_agent.trajectory import read_trajectories

    return expert_actions(read_trajectories(path))


def annotate(trace: Trace, actions: list[str] | None) -> Trace:
    """Fill expert_action and reward on each step that has an expert step at the same index."""
    if not actions:
        return trace
    for step in trace.steps:
        if step.index < len(actions):
            step.expert_action = actions[step.index]
            step.reward = round(step_reward(step.raw_output, step.expert_action), 4) if step.raw_output else (
                round(difflib.SequenceMatcher(None, step.action or "", step.expert_action, autojunk=False).ratio(), 4))
    return trace
