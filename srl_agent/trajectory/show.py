"""`srl traj show`: one trajectory pretty-printed for a terminal (long texts cut in the middle)."""

from __future__ import annotations

from pathlib import Path

from srl_agent.errors import InputError
from srl_agent.prompts import truncate_middle
from srl_agent.trajectory.schema import Trajectory, read_trajectories


def load_one(path: str | Path, index: int) -> Trajectory:
    if index < 0:
        raise InputError(f"--index must be 0 or more, got {index}")
    n = -1
    for n, t in enumerate(read_trajectories(path)):
        if n == index:
            return t
    raise InputError(f"{path} holds {n + 1} trajectories; --index {index} is out of range (0..{n})")


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines()) if text else prefix + "(empty)"


def format_trajectory(t: Trajectory, *, color: bool = False, width: int = 1200) -> str:
    def c(code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if color else text

    head = [c("1", f"{t.task.instance_id}") + f"  ({t.source.format}: {t.source.file} #{t.source.index})",
            f"resolved: {t.resolved}   steps: {len(t.steps)}   patch: {len(t.patch or '')} chars",
            c("1", "task:"), _indent(truncate_middle(t.task.problem_statement, width * 2))]
    for k, step in enumerate(t.steps):
        code = "" if step.exit_code is None else f"  exit {step.exit_code}"
        head.append(c("36", f"── step {k} · {step.action.tool}{code} " + "─" * 20))
        if step.thought:
            head.append(c("2", _indent(truncate_middle(step.thought, width))))
        head.append(c("33", _indent(truncate_middle(step.action.render(), width * 2))))
        head.append(_indent(truncate_middle(step.observation, width)))
    return "\n".join(head)
