"""Canonical trajectories (`srl-trajectory/1`) read back as they are, so re-importing our own output is lossless."""

from __future__ import annotations

from typing import Any

from srl_agent.trajectory.formats.base import Format, finish, register
from srl_agent.trajectory.schema import SCHEMA, Source, Trajectory


def detect(rec: Any) -> bool:
    return isinstance(rec, dict) and rec.get("schema") == SCHEMA


def parse(rec: Any, source: Source) -> Trajectory:
    t = Trajectory.from_dict(rec)  # keeps the original source: that is where the steps came from
    return finish(t.task, t.steps, t.source, resolved=t.resolved, patch=t.patch, meta=t.meta)


FORMAT = register(Format("canonical", detect, parse, "srl-trajectory/1 JSONL (our own output)"))
