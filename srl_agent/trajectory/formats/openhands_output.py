"""OpenHands output rows (evaluation / resolver): `history` of events, `git_patch`, `success` or `test_result`."""

from __future__ import annotations

from typing import Any

from srl_agent.trajectory.formats.base import (Format, RecordError, decode_json_field, finish, issue_text, make_task,
                                               optional_str, register, require)
from srl_agent.trajectory.formats.openhands_events import event_steps, is_event
from srl_agent.trajectory.formats.outcome import find_patch, find_resolved

RESOLVED_PATHS = ("success", "resolved", "test_result.resolved", "test_result.report.resolved")
PATCH_PATHS = ("git_patch", "test_result.git_patch")
from srl_agent.trajectory.schema import Source, Trajectory


def _flatten(history: list) -> list:
    """Older rows store history as [action, observation] pairs; newer ones as a flat event list."""
    flat = []
    for item in history:
        if isinstance(item, (list, tuple)):
            flat.extend(item)
        else:
            flat.append(item)
    return flat


def detect(rec: Any) -> bool:
    if not isinstance(rec, dict) or not isinstance(rec.get("history"), list) or not rec["history"]:
        return False
    return all(is_event(e) or isinstance(e, (list, tuple)) for e in rec["history"][:4])


def _identity(rec: dict) -> tuple[str | None, str]:
    issue = decode_json_field(rec.get("issue"), "issue") if rec.get("issue") is not None else None
    iid = optional_str(rec, "instance_id")
    text = ""
    if isinstance(issue, dict):
        text = "\n".join(s for s in (issue.get("title"), issue.get("body")) if isinstance(s, str))
        if iid is None and all(k in issue for k in ("owner", "repo", "number")):
            iid = f"{issue['owner']}__{issue['repo']}-{issue['number']}"
    instance = rec.get("instance") if isinstance(rec.get("instance"), dict) else {}
    text = text or optional_str(instance, "problem_statement") or ""
    if not text and isinstance(rec.get("instruction"), str):
        text = issue_text(rec["instruction"])
    return iid or optional_str(instance, "instance_id"), text


def parse(rec: Any, source: Source) -> Trajectory:
    if not isinstance(rec, dict):
        raise RecordError("(record)", f"expected an object, got {type(rec).__name__}")
    history = _flatten(require(rec, "history", list))
    first_message, steps, errors = event_steps(history, "history")
    iid, text = _identity(rec)
    task = make_task(iid, text or issue_text(first_message), source)
    resolved, resolved_from = find_resolved(rec, RESOLVED_PATHS)
    patch, patch_from = find_patch(rec, PATCH_PATHS)
    return finish(task, steps, source, resolved=resolved, patch=patch, resolved_from=resolved_from,
                  patch_from=patch_from, meta={"errors_without_action": errors} if errors else None)


FORMAT = register(Format("openhands-output", detect, parse, "OpenHands output rows with history"))
