"""OpenHands native event streams: a list of events with `action` or `observation`, `args`, `tool_call_metadata`.

Agent actions are steps; the structured tool call in `tool_call_metadata` is preferred when there is one.
`run` is bash, `finish` is submit, file reads / writes / oh_aci edits are str_replace_editor calls; IPython,
browsing, LLM-based edits and `think` stay generic actions under OpenHands' tool names. Agent messages and
bookkeeping events (state changes, recalls, condensations) are not actions. The first user message is the task.
"""

from __future__ import annotations

from typing import Any

from srl_agent.actions import EDITOR_COMMANDS, SUBMIT, Action
from srl_agent.trajectory.formats.base import (Format, RecordError, decode_json_field, finish, issue_text,
                                               make_step, make_task, register, tool_call_action, unknown_tool)
from srl_agent.trajectory.schema import Source, Step, Trajectory

NOT_STEPS = ("message", "system", "recall", "condensation", "condensation_request", "change_agent_state",
             "null", "agent_state_changed", "mcp_list_tools", "task_tracking")
SKIP_OBSERVATIONS = ("agent_state_changed", "null", "recall", "user_rejected", "condensation")


def _structured(ev: dict, field: str) -> Action | None:
    tcm = ev.get("tool_call_metadata")
    if not isinstance(tcm, dict):
        return None
    try:
        calls = tcm["model_response"]["choices"][0]["message"]["tool_calls"]
    except (KeyError, IndexError, TypeError):
        return None
    for j, call in enumerate(calls or []):
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict) and call.get("id") == tcm.get("tool_call_id") and isinstance(fn.get("name"), str):
            return tool_call_action(fn["name"], fn.get("arguments"), f"{field}.tool_call_metadata.tool_calls[{j}]")
    return None


def _by_type(kind: str, args: dict, field: str) -> Action:
    def arg(key: str) -> str:
        value = args.get(key)
        if not isinstance(value, str):
            raise RecordError(f"{field}.{key}", "missing or not a string")
        return value

    if kind == "run":
        return Action.bash(arg("command"))
    if kind == "run_ipython":
        return Action("execute_ipython_cell", {"code": arg("code")})
    if kind == "finish":
        return Action(SUBMIT, {})
    if kind == "read":
        extra = {"view_range": args["view_range"]} if args.get("view_range") else {}
        return Action.editor("view", arg("path"), **extra)
    if kind == "write":
        return Action.editor("create", arg("path"), file_text=arg("content"))
    if kind == "edit":
        if args.get("command") in EDITOR_COMMANDS:
            keep = ("file_text", "view_range", "old_str", "new_str", "insert_line")
            return Action.editor(args["command"], arg("path"), **{k: args.get(k) for k in keep})
        return Action("edit_file", {"path": arg("path"), "content": str(args.get("content") or ""),
                                    "start": str(args.get("start", 1)), "end": str(args.get("end", -1))})
    if kind == "browse":
        return Action("web_read", {"url": arg("url")})
    if kind == "browse_interactive":
        return Action("browser", {"code": arg("browser_actions")})
    if kind == "think":
        return Action("think", {"thought": arg("thought")})
    raise unknown_tool(f"{field}.action", kind)


def event_steps(events: list, where: str) -> tuple[str, list[Step]]:
    """(task text, steps) from OpenHands events (new style with `args`, or old flat dicts)."""
    task_text, steps = "", []
    last: Step | None = None
    for i, ev in enumerate(events):
        field = f"{where}[{i}]"
        if not isinstance(ev, dict):
            raise RecordError(field, f"expected an object, got {type(ev).__name__}")
        args = decode_json_field(ev["args"], f"{field}.args") if "args" in ev else ev
        if not isinstance(args, dict):
            raise RecordError(f"{field}.args", "expected an object")
        if isinstance(ev.get("action"), str):
            kind = ev["action"]
            if kind == "message":
                if not task_text and ev.get("source", "user") == "user":
                    task_text = str(args.get("content") or ev.get("message") or "")
                continue
            if kind in NOT_STEPS:
                continue
            action = _structured(ev, field) or _by_type(kind, args, field)
            thought = args.get("thought") if isinstance(args.get("thought"), str) else ""
            last = make_step(thought, action)
            steps.append(last)
        elif isinstance(ev.get("observation"), str):
            if last is None or ev["observation"] in SKIP_OBSERVATIONS or last.observation:
                continue
            content = ev.get("content")
            if content is not None and not isinstance(content, str):
                raise RecordError(f"{field}.content", f"expected str, got {type(content).__name__}")
            last.observation = make_step("", last.action, content or "").observation
            extras = decode_json_field(ev.get("extras") or {}, f"{field}.extras")
            code = ev.get("exit_code", (extras.get("metadata") or {}).get("exit_code") if isinstance(extras, dict) else None)
            try:
                last.exit_code = None if code in (None, "", -1) else int(code)
            except (TypeError, ValueError):
                raise RecordError(f"{field}.exit_code", f"not an integer: {code!r}") from None
    return task_text, steps


def is_event(ev: Any) -> bool:
    return isinstance(ev, dict) and ("action" in ev or "observation" in ev) and "role" not in ev


def detect(rec: Any) -> bool:
    return isinstance(rec, list) and bool(rec) and all(is_event(e) for e in rec[:4])


def parse(rec: Any, source: Source) -> Trajectory:
    if not isinstance(rec, list):
        raise RecordError("(record)", f"expected a list of events, got {type(rec).__name__}")
    task_text, steps = event_steps(rec, "events")
    task = make_task(None, issue_text(task_text), source)
    return finish(task, steps, source)


FORMAT = register(Format("openhands-events", detect, parse, "OpenHands native event stream (list of events)"))
