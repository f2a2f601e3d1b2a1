"""The parse step shared by the chat-message formats (SWE-smith, SWE-Gym, OpenHands SFT, mini-swe-agent)."""

from __future__ import annotations

from typing import Any, Iterable

from srl_agent.trajectory.formats.base import decode_messages, finish, issue_text, make_task, optional_str
from srl_agent.trajectory.formats.chat import ChatStyle, parse_chat
from srl_agent.trajectory.formats.outcome import PATCH_PATHS, RESOLVED_PATHS, find_patch, find_resolved
from srl_agent.trajectory.schema import Source, Trajectory

META_KEYS = ("model", "traj_id", "run_id", "id", "model_name")


def parse_messages_record(rec: Any, source: Source, style: ChatStyle, *, resolved_paths: Iterable[str] = RESOLVED_PATHS,
                          patch_paths: Iterable[str] = PATCH_PATHS) -> Trajectory:
    messages = decode_messages(rec)
    result = parse_chat(messages, "messages", style)
    row = rec if isinstance(rec, dict) else {}
    task = make_task(optional_str(row, "instance_id"), issue_text(result.task_text), source)
    resolved, resolved_from = find_resolved(row, resolved_paths)
    patch, patch_from = find_patch(row, patch_paths)
    meta = {k: row[k] for k in META_KEYS if isinstance(row.get(k), (str, int)) and not isinstance(row.get(k), bool)}
    return finish(task, result.steps, source, resolved=resolved, patch=patch, meta=meta, resolved_from=resolved_from,
                  patch_from=patch_from)
