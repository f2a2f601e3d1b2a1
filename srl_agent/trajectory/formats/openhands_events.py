"""OpenHands event streams (native lists, output-row `history`, 2024 feedback `trajectory`) turned into steps.

Agent actions are steps; the structured tool call in `tool_call_metadata` is preferred when there is one.
`run` is bash, `finish` (and `reject`, the agent giving up) is submit, file reads / writes / oh_aci edits are
str_replace_editor calls; IPython, browsing, LLM-based edits and `think` stay generic actions under OpenHands' tool
names. Agent messages, delegation, planning and bookkeeping events (state changes, recalls, condensations) are not
actions, nor is anything the environment itself emits (`initialize`). Arguments are under `args`; the 2024
feedback table keeps them under `extras`; the oldest events are flat. An observation belongs to the action its
`cause` names, else to the last action without one; an `error` observation with no action left to answer (a tool
call that failed validation) is kept as OpenHands shows it to the model: appended to the last step's
observation. The task text is what the user said before the first action.
"""

from __future__ import annotations

from typing import Any

from srl_agent.actions import EDITOR_COMMANDS, SUBMIT, Action
from srl_agent.trajectory.formats.base import (Format, RecordError, decode_json_field, finish, issue_text,
                                               make_step, make_task, reasoning_text, register, tool_call_action,
                                               unknown_tool)
from srl_agent.trajectory.schema import Source, Step, Trajectory

NOT_STEPS = ("message", "system", "recall", "condensation", "condensation_request", "change_agent_state",
             "null", "agent_state_changed", "mcp_list_tools", "task_tracking", "initialize", "delegate", "summarize",
             "add_task", "modify_task", "start")
SKIP_OBSERVATIONS = ("agent_state_changed", "null", "recall", "user_rejected", "condensation", "delegate")
ERROR_NOTE = "\n[Error occurred in processing last action]"


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
    if kind in ("finish", "reject"):
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


def _event_args(ev: dict, field: str) -> dict:
    if ev.get("args") is not None:
        args = decode_json_field(ev["args"], f"{field}.args")
    elif isinstance(ev.get("action"), str) and ev.get("extras") is not None:
        args = decode_json_field(ev["extras"], f"{field}.extras")  # the 2024 feedback table
    else:
        args = ev  # the oldest events are flat
    if not isinstance(args, dict):
        raise RecordError(f"{field}.args", "expected an object")
    return args


def _thought(ev: dict, args: dict) -> str:
    thought = args.get("thought") if isinstance(args.get("thought"), str) else ""
    if thought.strip():
        return thought
    try:
        message = ev["tool_call_metadata"]["model_response"]["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        message = None
    return reasoning_text(args) or (reasoning_text(message) if isinstance(message, dict) else "")


def _exit_code(ev: dict, field: str) -> int | None:
    extras = decode_json_field(ev.get("extras") or {}, f"{field}.extras")
    extras = extras if isinstance(extras, dict) else {}
    code = ev.get("exit_code", extras.get("exit_code", (extras.get("metadata") or {}).get("exit_code")))
    try:
        return None if code in (None, "", -1) else int(code)
    except (TypeError, ValueError):
        raise RecordError(f"{field}.exit_code", f"not an integer: {code!r}") from None


class _Stream:
    """Steps being built from events, and which of them already have their observation."""

    def __init__(self) -> None:
        self.task_parts: list[str] = []
        self.steps: list[Step] = []
        self.by_id: dict[Any, Step] = {}
        self.answered: set[int] = set()
        self.unmatched_errors = 0

    def action(self, ev: dict, kind: str, field: str) -> None:
        args = _event_args(ev, field)
        if kind == "message":
            content = args.get("content") or ev.get("content") or ev.get("message")
            if not self.steps and ev.get("source", "user") == "user" and isinstance(content, str) and content.strip():
                self.task_parts.append(content)
            return
        if kind in NOT_STEPS or ev.get("source") == "environment":
            return
        step = make_step(_thought(ev, args), _structured(ev, field) or _by_type(kind, args, field))
        self.steps.append(step)
        if ev.get("id") is not None:
            self.by_id[str(ev["id"])] = step

    def observation(self, ev: dict, kind: str, field: str) -> None:
        if kind in SKIP_OBSERVATIONS:
            return
        content = ev.get("content")
        if content is not None and not isinstance(content, str):
            raise RecordError(f"{field}.content", f"expected str, got {type(content).__name__}")
        target = self.by_id.get(str(ev["cause"])) if ev.get("cause") is not None else None
        if target is None and self.steps and id(self.steps[-1]) not in self.answered:
            target = self.steps[-1]
        if target is not None and id(target) not in self.answered:
            self.answered.add(id(target))
            target.observation = make_step("", target.action, content or "").observation
            target.exit_code = _exit_code(ev, field)
        elif kind == "error" and content:
            self.unmatched_errors += 1
            if self.steps:
                last = self.steps[-1]
                joined = f"{last.observation}\n\n{content}{ERROR_NOTE}" if last.observation else content + ERROR_NOTE
                last.observation = make_step("", last.action, joined).observation


def event_steps(events: list, where: str) -> tuple[str, list[Step], int]:
    """(task text, steps, errors without an action) from OpenHands events."""
    stream = _Stream()
    for i, ev in enumerate(events):
        field = f"{where}[{i}]"
        if not isinstance(ev, dict):
            raise RecordError(field, f"expected an object, got {type(ev).__name__}")
        if isinstance(ev.get("action"), str):
            stream.action(ev, ev["action"], field)
        elif isinstance(ev.get("observation"), str):
            stream.observation(ev, ev["observation"], field)
    return "\n\n".join(stream.task_parts), stream.steps, stream.unmatched_errors


def is_event(ev: Any) -> bool:
    return isinstance(ev, dict) and ("action" in ev or "observation" in ev) and "role" not in ev


def detect(rec: Any) -> bool:
    return isinstance(rec, list) and bool(rec) and all(is_event(e) for e in rec[:4])


def parse(rec: Any, source: Source) -> Trajectory:
    where = "events"
    if isinstance(rec, dict):  # forced on a row that holds its stream (feedback `trajectory`, output `history`)
        where = next((k for k in ("trajectory", "history") if isinstance(rec.get(k), list)), "")
        rec = rec.get(where)
    if not isinstance(rec, list):
        raise RecordError("(record)", f"expected a list of events (or a row with one under 'trajectory' or "
                                      f"'history'), got {type(rec).__name__}")
    task_text, steps, errors = event_steps(rec, where)
    task = make_task(None, issue_text(task_text), source)
    return finish(task, steps, source, meta={"errors_without_action": errors} if errors else None)


FORMAT = register(Format("openhands-events", detect, parse, "OpenHands native event stream (list of events)"))
