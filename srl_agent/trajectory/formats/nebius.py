"""nebius/SWE-agent-trajectories rows: `trajectory` items with role system / user / ai; `target` is resolved.

The action is the last fenced code block of an `ai` message (SWE-agent's default scaffold), kept verbatim
as bash (`submit` alone is submit); the next user item is its observation.
"""

from __future__ import annotations

from typing import Any

from srl_agent.trajectory.formats.base import (Format, RecordError, finish, issue_text, make_task, optional_str,
                                               register, require)
from srl_agent.trajectory.formats.chat import ChatStyle, parse_chat
from srl_agent.trajectory.formats.outcome import find_patch, find_resolved
from srl_agent.trajectory.schema import Source, Trajectory

STYLE = ChatStyle(use_xml=False)


def detect(rec: Any) -> bool:
    if not isinstance(rec, dict) or not isinstance(rec.get("trajectory"), list):
        return False
    items = rec["trajectory"][:4]
    return bool(items) and all(isinstance(t, dict) and "role" in t and "action" not in t for t in items)


def parse(rec: Any, source: Source) -> Trajectory:
    if not isinstance(rec, dict):
        raise RecordError("(record)", f"expected an object, got {type(rec).__name__}")
    items = require(rec, "trajectory", list)
    messages = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise RecordError(f"trajectory[{i}]", f"expected an object, got {type(item).__name__}")
        role = require(item, "role", str, f"trajectory[{i}].")
        text = item.get("text", item.get("content"))
        if text is not None and not isinstance(text, (str, list)):
            raise RecordError(f"trajectory[{i}].text", f"expected str, got {type(text).__name__}")
        messages.append({**item, "role": "assistant" if role == "ai" else role, "content": text})
    result = parse_chat(messages, "trajectory", STYLE)
    task = make_task(optional_str(rec, "instance_id"), issue_text(result.task_text), source)
    meta = {k: rec[k] for k in ("model_name", "exit_status") if isinstance(rec.get(k), str)}
    resolved, resolved_from = find_resolved(rec, ("target", "resolved"))
    patch, patch_from = find_patch(rec, ("generated_patch", "patch"))
    return finish(task, result.steps, source, resolved=resolved, patch=patch, meta=meta, resolved_from=resolved_from,
                  patch_from=patch_from)


FORMAT = register(Format("nebius", detect, parse, "nebius/SWE-agent-trajectories rows"))
