"""Scripted policies that ship with the package: fixed outputs for tests and demos, and expert replay."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from srl_agent.actions import SUBMIT, Action, format_completion
from srl_agent.errors import InputError
from srl_agent.policy.base import Messages, PolicyError


@dataclass
class DeterministicPolicy:
    """Returns `outputs` in order, one per call (mini-swe-agent's DeterministicModel).

    With `cycle=True` it starts over when the script ends (a policy that never stops); otherwise running
    past the end raises PolicyError. It keeps its place across episodes; for a fresh script per episode
    (or per task) use ScriptedPolicy. `prompts` records what it was asked, for tests that check prompts.
    """

    outputs: list[str]
    cycle: bool = False
    name: str = "deterministic"
    prompts: list[list[dict]] = field(default_factory=list, repr=False)
    _next: int = field(default=0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def generate(self, messages: Messages) -> str:
        with self._lock:
            self.prompts.append([dict(m) for m in messages])
            if self._next >= len(self.outputs):
                if not self.cycle or not self.outputs:
                    raise PolicyError(f"{self.name}: script of {len(self.outputs)} outputs exhausted")
                self._next = 0
            out = self.outputs[self._next]
            self._next += 1
            return out

    def generate_batch(self, batch: Sequence[Messages]) -> list[str]:
        return [self.generate(m) for m in batch]


class ScriptedPolicy:
    """A fresh DeterministicPolicy per episode: the task's own script (`scripts[instance_id]`) or `default`.

    Safe to share between threads (each episode has its own script position); `episodes` keeps every
    (instance_id, DeterministicPolicy) it handed out so tests can inspect the prompts.
    """

    def __init__(self, scripts: Mapping[str, list[str]] | None = None, default: list[str] | None = None,
                 *, cycle: bool = False, name: str = "scripted") -> None:
        self.name, self.cycle = name, cycle
        self.scripts = dict(scripts or {})
        self.default = default
        self.episodes: list[tuple[str, DeterministicPolicy]] = []
        self._lock = threading.Lock()

    def episode(self, task) -> DeterministicPolicy:
        script = self.scripts.get(task.instance_id, self.default)
        if script is None:
            raise PolicyError(f"{self.name}: no script for task {task.instance_id!r}")
        policy = DeterministicPolicy(list(script), cycle=self.cycle, name=self.name)
        with self._lock:
            self.episodes.append((task.instance_id, policy))
        return policy

    def generate(self, messages: Messages) -> str:
        raise PolicyError(f"{self.name}: a script needs the task; call episode(task) first (the agent does)")


def completions_for(actions: Iterable[Action], thoughts: Iterable[str] | None = None) -> list[str]:
    """Well-formed outputs (`<think>` + call) for a list of actions; empty thoughts get a placeholder."""
    actions = list(actions)
    thoughts = list(thoughts) if thoughts is not None else [""] * len(actions)
    return [format_completion(t if t.strip() else f"Step {i + 1}.", a)
            for i, (t, a) in enumerate(zip(thoughts, actions))]


class ReplayPolicy(ScriptedPolicy):
    """Replays each task's expert trajectory (matched by instance_id), then submits.

    Used by `srl eval --policy scripted --model TRAJ.jsonl`: a run whose resolved rate is the expert's,
    which checks the whole evaluation path (sandbox, grading, traces) without a model.
    """

    def __init__(self, trajectories: Iterable, name: str = "replay") -> None:
        scripts: dict[str, list[str]] = {}
        for traj in trajectories:
            actions = [s.action for s in traj.steps]
            thoughts = [s.thought or "" for s in traj.steps]
            if not actions or actions[-1].tool != SUBMIT:
                actions.append(Action.submit())
                thoughts.append("Done; submitting.")
            scripts.setdefault(traj.task.instance_id, completions_for(actions, thoughts))
        super().__init__(scripts, name=name)

    @classmethod
    def from_file(cls, path: str | Path) -> "ReplayPolicy":
        from srl_agent.trajectory import read_trajectories

        if not Path(path).is_file():
            raise InputError(f"{path}: no such trajectory file (the scripted policy replays a canonical "
                             "trajectory JSONL; make one with `srl traj import`)")
        return cls(read_trajectories(path), name=f"replay:{Path(path).name}")
