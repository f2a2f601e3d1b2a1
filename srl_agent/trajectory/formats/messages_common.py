"""The parse step shared by the chat-message formats (SWE-smith, SWE-Gym, OpenHands SFT, mini-swe-agent)."""

from __future__ import annotations

from typing import Any

from srl_agent.trajectory.formats.base import (as_bool, decode_messages, finish, issue_text, make_task,
                                               optional_str)
from srl_agent.trajectory.formats.chat import ChatStyle, parse_chat
from srl_agent.trajectory.schema import Source, Trajectory


def parse_messages_record(rec: Any, source: Source, style: ChatStyle, *, resolved_keys=("resolved",)) -> Trajectory:
    messages = decode_messages(rec)
    result = parse_chat(messages, "messages", style)
    row = rec if isinstance(rec, dict) else {}
    iid = optional_str(row, "instance_id")
    task = make_task(iid, issue_text(result.task_text), source)
    resolved = next((as_bool(row[k]) for k in resolved_keys if k in row), None)
    meta = {k: row[k] for k in ("model", "traj_id", "run_id", "id", "model_name") if isinstance(row.get(k), (str, int))}
    return finish(task, result.steps, source, resolved=resolved, patch=optional_str(row, "patch", "git_patch"),
                  meta=meta)
