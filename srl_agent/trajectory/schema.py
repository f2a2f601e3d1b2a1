"""The canonical trajectory: typed Step / Source / Trajectory records and their versioned JSONL form."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from srl_agent.actions import Action
from srl_agent.errors import InputError
from srl_agent.jsonio import not_text
from srl_agent.task import Task

SCHEMA = "srl-trajectory/1"


@dataclass
class Step:
    """One expert step: the reasoning text, the environment call, and what the environment answered."""

    thought: str
    action: Action
    observation: str
    exit_code: int | None = None

    def to_dict(self) -> dict:
        return {"thought": self.thought, "action": self.action.to_dict(), "observation": self.observation,
                "exit_code": self.exit_code}

    @staticmethod
    def from_dict(d: dict) -> "Step":
        code = d.get("exit_code")
        return Step(thought=str(d.get("thought") or ""), action=Action.from_dict(d["action"]),
                    observation=str(d.get("observation") or ""), exit_code=None if code is None else int(code))


@dataclass(frozen=True)
class Source:
    """Where a trajectory came from, so every step example can be traced back to its origin."""

    format: str
    file: str
    index: int

    def to_dict(self) -> dict:
        return {"format": self.format, "file": self.file, "index": self.index}


@dataclass
class Trajectory:
    task: Task
    steps: list[Step]
    source: Source
    resolved: bool | None = None
    patch: str | None = None
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "task": self.task.to_dict(), "source": self.source.to_dict(),
                "resolved": self.resolved, "patch": self.patch, "meta": self.meta,
                "steps": [s.to_dict() for s in self.steps]}

    @staticmethod
    def from_dict(d: dict) -> "Trajectory":
        if not isinstance(d, dict):
            raise InputError("trajectory record is not an object")
        if d.get("schema") != SCHEMA:
            raise InputError(f"field 'schema': expected {SCHEMA!r}, got {d.get('schema')!r} "
                             "(import the file first with `srl traj import`)")
        task = dict(d["task"])
        task.pop("schema", None)
        src = d["source"]
        return Trajectory(task=Task.from_row(task), steps=[Step.from_dict(s) for s in d["steps"]],
                          source=Source(str(src["format"]), str(src["file"]), int(src["index"])),
                          resolved=d.get("resolved"), patch=d.get("patch"), meta=dict(d.get("meta") or {}))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_trajectories(path: str | Path) -> Iterator[Trajectory]:
    """Read canonical trajectories (JSONL, optionally .gz). Raises InputError naming the line at fault."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a canonical JSONL file (`srl traj import {path} -o OUT.jsonl` "
                         "converts a folder)")
    if not path.is_file():
        raise InputError(f"{path}: no such file (write one with `srl traj import SRC -o {path.name}`)")
    try:
        with _open_text(path) as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    yield Trajectory.from_dict(json.loads(line))
                except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                    msg = exc.args[0] if isinstance(exc, (InputError, KeyError)) and exc.args else exc
                    raise InputError(f"{path}:{lineno}: not a canonical trajectory "
                                     f"({msg}); `srl traj import` converts other formats") from None
    except UnicodeDecodeError as exc:
        raise not_text(path, exc, "canonical trajectory JSONL (`srl traj import` converts other formats)") from None
    except (gzip.BadGzipFile, EOFError) as exc:
        raise InputError(f"{path}: not a readable gzip file ({exc})") from None


def write_trajectories(trajectories: Iterable[Trajectory], path: str | Path) -> int:
    """Write canonical trajectories as JSONL (one per line); returns how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    opener = gzip.open(path, "wt", encoding="utf-8") if path.suffix == ".gz" else open(path, "w", encoding="utf-8")
    with opener as fh:
        for t in trajectories:
            fh.write(t.to_json() + "\n")
            n += 1
    return n
