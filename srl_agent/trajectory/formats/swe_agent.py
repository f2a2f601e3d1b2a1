"""SWE-agent `.traj` files (plain-command, XML and function-calling scaffolds; also SWE-smith's runs).

Actions come from the structured fields: `trajectory[i].action`, and for function-calling scaffolds the
matching `tool_calls` in `history`. A `str_replace_editor` / `bash` / `submit` tool call becomes that tool;
SWE-agent's own commands (open, edit, create, find_file, search_dir, ...) are kept verbatim as bash
commands, since their meaning lives in SWE-agent's tool bundles. A `.traj` with only `history` (as the
function-calling demonstrations) is read from its assistant messages.
"""

from __future__ import annotations

import json
from typing import Any

from srl_agent.actions import SUBMIT, Action
from srl_agent.trajectory.formats.base import (Format, RecordError, content_text, decode_json_field, finish,
                                               is_message_list, issue_text, make_step, make_task, reasoning_text,
                                               register, require, tool_call_action, with_reasoning)
from srl_agent.trajectory.formats.outcome import find_patch, find_resolved
from srl_agent.trajectory.schema import Source, Step, Trajectory

_STRUCTURED = ("str_replace_editor", "bash", "submit")


def detect(rec: Any) -> bool:
    if not isinstance(rec, dict) or "messages" in rec:
        return False
    if isinstance(rec.get("trajectory"), list) and ("history" in rec or "info" in rec):
        return all(isinstance(t, dict) and "action" in t for t in rec["trajectory"][:3])
    return is_message_list(rec.get("history"))


def _text_action(text: str) -> Action:
    cmd = text.rstrip("\n")
    if cmd.strip() == "submit":
        return Action(SUBMIT, {})
    return Action.bash(cmd)


def _action(text: str, call: dict | None, field: str) -> Action:
    """The structured call when it names one of our tools, else the command text verbatim."""
    if call is not None:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise RecordError(f"{field}.function", "missing or without a name")
        if fn["name"] in _STRUCTURED:
            action = tool_call_action(fn["name"], fn.get("arguments"), f"{field}.function")
            if action is not None:
                return action
    return _text_action(text)


def _assistant_actions(history: list) -> list[tuple[int, dict]]:
    """(index, message) of history messages that took an action (demonstrations excluded)."""
    out = []
    for i, m in enumerate(history):
        if not isinstance(m, dict):
            raise RecordError(f"history[{i}]", f"expected an object, got {type(m).__name__}")
        if m.get("role") == "assistant" and not m.get("is_demo") and isinstance(m.get("action"), str) \
                and m["action"].strip():
            out.append((i, m))
    return out


def _first_call(msg: dict, field: str) -> dict | None:
    calls = msg.get("tool_calls")
    if not calls:
        return None
    calls = decode_json_field(calls, field)
    if not isinstance(calls, list) or not calls:
        raise RecordError(field, "expected a non-empty list")
    return calls[0]


def _from_trajectory(traj: list, history: list) -> list[Step]:
    acts = _assistant_actions(history)
    steps = []
    k = 0
    for i, item in enumerate(traj):
        if not isinstance(item, dict):
            raise RecordError(f"trajectory[{i}]", f"expected an object, got {type(item).__name__}")
        text = require(item, "action", str, f"trajectory[{i}].")
        if not text.strip():
            continue  # an exit without a command (cost limit, format errors): no action was taken
        call, hidden = None, ""
        # History holds the same actions in order (plus retries), so walk it forward to the matching one.
        while k < len(acts) and acts[k][1]["action"].strip() != text.strip():
            k += 1
        if k < len(acts):
            call = _first_call(acts[k][1], f"history[{acts[k][0]}].tool_calls")
            hidden = reasoning_text(acts[k][1])
            k += 1
        obs = item.get("observation")
        if obs is not None and not isinstance(obs, str):
            raise RecordError(f"trajectory[{i}].observation", f"expected str, got {type(obs).__name__}")
        thought = item.get("thought") if isinstance(item.get("thought"), str) else ""
        if hidden and hidden not in thought:
            thought = f"{hidden}\n\n{thought}" if thought.strip() else hidden
        steps.append(make_step(thought, _action(text, call, f"trajectory[{i}]"), obs or ""))
    return steps


def _from_history(history: list) -> list[Step]:
    steps = []
    acts = _assistant_actions(history)
    for n, (i, msg) in enumerate(acts):
        call = _first_call(msg, f"history[{i}].tool_calls")
        thought = msg.get("thought") if isinstance(msg.get("thought"), str) else \
            content_text(msg.get("content"), f"history[{i}].content")
        thought = with_reasoning(msg, thought)
        end = acts[n + 1][0] if n + 1 < len(acts) else len(history)
        replies = [m for m in history[i + 1:end] if m.get("role") in ("tool", "user") and not m.get("is_demo")]
        obs = content_text(replies[0].get("content"), f"history[{i + 1}].content") if replies else ""
        steps.append(make_step(thought, _action(msg["action"], call, f"history[{i}]"), obs))
    return steps


def _task_text(rec: dict, replay: dict) -> str:
    ps = replay.get("problem_statement") if isinstance(replay, dict) else None
    if isinstance(ps, dict) and isinstance(ps.get("text"), str) and ps["text"].strip():
        return ps["text"]
    for i, m in enumerate(rec.get("history") or []):
        if isinstance(m, dict) and m.get("role") == "user" and not m.get("is_demo"):
            return issue_text(content_text(m.get("content"), f"history[{i}].content"))
    return ""


def parse(rec: Any, source: Source) -> Trajectory:
    if not isinstance(rec, dict):
        raise RecordError("(record)", f"expected an object, got {type(rec).__name__}")
    history = rec.get("history") or []
    if not isinstance(history, list):
        raise RecordError("history", f"expected a list, got {type(history).__name__}")
    replay = rec.get("replay_config") or {}
    if isinstance(replay, str):
        try:
            replay = json.loads(replay)
        except json.JSONDecodeError:
            raise RecordError("replay_config", "a string that is not JSON") from None
    if "trajectory" in rec:
        steps = _from_trajectory(require(rec, "trajectory", list), history)
    else:
        steps = _from_history(history)
    info = rec.get("info") if isinstance(rec.get("info"), dict) else {}
    ps = replay.get("problem_statement") if isinstance(replay, dict) else None
    iid = ps.get("id") if isinstance(ps, dict) and isinstance(ps.get("id"), str) else None
    env = rec.get("environment")
    if iid is None and isinstance(env, str) and env not in ("swe_main", "main"):
        iid = env
    if iid is None:
        iid = source.file.rsplit("/", 1)[-1].removesuffix(".traj")
    task = make_task(iid, _task_text(rec, replay), source)
    meta = {k: info[k] for k in ("exit_status",) if k in info}
    resolved, resolved_from = find_resolved(rec, ("info.resolved",))
    patch, patch_from = find_patch(rec, ("info.submission",))
    return finish(task, steps, source, resolved=resolved, patch=patch, meta=meta, resolved_from=resolved_from,
                  patch_from=patch_from)


FORMAT = register(Format("swe-agent", detect, parse, "SWE-agent .traj (trajectory + history + info)"))
