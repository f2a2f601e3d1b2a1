"""Expert side of a trace: a canonical trajectory as a Trace, and student traces annotated with the expert
action at the same step index and the step reward against it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from srl_agent.actions import render
from srl_agent.grade_report import GradeReport
from srl_agent.prompts import PromptConfig, build_step_messages
from srl_agent.traces.schema import Trace, TraceStep


def step_reward(completion: str, expert_action: str) -> float:
    """The trainer's step reward (srl_agent.reward): action similarity to the expert's, -1 if malformed."""
    from srl_agent.reward import step_reward as reward_fn

    return float(reward_fn(completion, expert_action))


def trace_from_trajectory(traj, prompt: PromptConfig | None = None) -> Trace:
    """Render a canonical expert trajectory as a Trace (stop reason 'expert'), so the viewer shows both.

    Each step gets the SRL step prompt `srl traj split` builds for it (build_step_messages over the earlier
    expert steps, with `prompt`, default PromptConfig()), i.e. what a student is trained to answer there."""
    prompt = prompt or PromptConfig()
    steps = [TraceStep(index=i, raw_output="", think=s.thought, action=render(s.action), tool=s.action.tool,
                       observation=s.observation, exit_code=s.exit_code,
                       prompt=build_step_messages(traj.task.problem_statement, traj.steps[:i], prompt))
             for i, s in enumerate(traj.steps)]
    grade = None
    if traj.resolved is not None:
        grade = GradeReport(traj.task.instance_id, "FULL" if traj.resolved else "NO", result_source="record")
    meta = {"source": traj.source.to_dict(), **{k: v for k, v in traj.meta.items() if k == "exit_status"}}
    return Trace(instance_id=traj.task.instance_id, steps=steps, stop_reason="expert", patch=traj.patch or "",
                 grade=grade, problem_statement=traj.task.problem_statement,
                 model=f"expert ({traj.source.format})", meta=meta, gold_patch=traj.task.gold_patch)


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
            # A trace made from a trajectory has no raw output: score its canonical action as a completion.
            raw = step.raw_output
            if not raw and step.action:
                raw = f"<think>\n{(step.think or '').strip() or '-'}\n</think>\n{step.action}"
            step.reward = round(step_reward(raw, step.expert_action), 4)
    return trace
