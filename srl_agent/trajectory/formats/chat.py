"""Chat-message histories (system / user / assistant [/ tool]) turned into steps; shared by several importers.

An assistant message carries its action in one of three ways, tried in this order: structured OpenAI
`tool_calls`; an XML-style `<function=NAME>` call in the text (read as SWE-agent's XML parser reads it: the
first call, values stripped, the text around it is the thought); a fenced code block (the last one, as
SWE-agent's thought-action parser takes it). The reply to the action is the matching `tool`
message, or else the next user message (known prefixes such as "OBSERVATION:" removed). Assistant messages
without an action add their text to the next step's thought.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from srl_agent.actions import SUBMIT, Action
from srl_agent.trajectory.formats.base import (RecordError, content_text, decode_json_field, fenced_blocks,
                                               make_step, tool_call_action, unknown_tool, with_reasoning, xml_calls)
from srl_agent.trajectory.schema import Step

_OBS_PREFIXES = ("OBSERVATION:\n", "OBSERVATION:", "Observation: ", "Observation:\n")
_EXEC_RESULT_RE = re.compile(r"^EXECUTION RESULT of \[[\w\-]+\]:\n?")
_RETURNCODE_RE = re.compile(r"^\s*<returncode>(-?\d+)</returncode>\s*\n?<output>\n?(.*?)\n?</output>\s*$", re.DOTALL)


def split_observation(text: str) -> tuple[str, int | None]:
    """Remove a scaffold's observation wrapper; returns (output, exit code when the wrapper gives one)."""
    m = _RETURNCODE_RE.match(text)
    if m:
        return m.group(2), int(m.group(1))
    m = _EXEC_RESULT_RE.match(text)
    if m:
        return text[m.end():], None
    for prefix in _OBS_PREFIXES:
        if text.startswith(prefix):
            return text[len(prefix):], None
    return text, None


def default_command(cmd: str) -> list[Action]:
    """A fenced command: `submit` alone is the submit tool; anything else runs verbatim in bash."""
    if cmd.strip() == "submit":
        return [Action(SUBMIT, {})]
    return [Action.bash(cmd)]


def default_call(name: str, args: Any, field: str) -> Action:
    action = tool_call_action(name, args, field)
    if action is None:
        raise unknown_tool(field, name)
    return action


@dataclass
class ChatStyle:
    """How one format reads actions out of assistant messages. `call` may return several actions for one call
    (mini-swe-agent's `cleanup && echo SUBMIT-MARKER`: a bash step, then submit)."""

    call: Callable[[str, Any, str], Action | list[Action]] = default_call
    command: Callable[[str], list[Action]] = default_command
    fence_languages: tuple[str, ...] | None = None  # None: any language
    use_xml: bool = True
    use_fences: bool = True


@dataclass
class ChatResult:
    task_text: str
    steps: list[Step] = field(default_factory=list)
    system: str = ""


def _as_list(actions: Action | list[Action]) -> list[Action]:
    return actions if isinstance(actions, list) else [actions]


def _message_actions(msg: dict, i: int, where: str, style: ChatStyle) -> tuple[str, list[tuple[Action, str | None]]]:
    """(thought, [(action, tool_call_id)]) for one assistant message; the thought includes hidden reasoning."""
    text = content_text(msg.get("content"), f"{where}[{i}].content")
    calls = msg.get("tool_calls")
    if calls:
        calls = decode_json_field(calls, f"{where}[{i}].tool_calls")
        if not isinstance(calls, list):
            raise RecordError(f"{where}[{i}].tool_calls", "expected a list")
        out = []
        for j, call in enumerate(calls):
            f = f"{where}[{i}].tool_calls[{j}]"
            fn = call.get("function") if isinstance(call, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise RecordError(f"{f}.function", "missing or without a name")
            out += [(a, call.get("id")) for a in _as_list(style.call(fn["name"], fn.get("arguments"), f"{f}.function"))]
        return with_reasoning(msg, text), out
    if style.use_xml:
        parse_text = text
        if text.count("<function=") == 1 and "</function>" not in text:
            parse_text = text + "\n</function>"  # a stop word cut the closing tag (OpenHands repairs it too)
        found = xml_calls(parse_text)
        if found:
            # SWE-agent's XML parser runs the first call; the rest of the text is the thought.
            start, end, name, params = found[0]
            thought = parse_text[:start] + parse_text[end:]
            actions = _as_list(style.call(name, params, f"{where}[{i}].content"))
            return with_reasoning(msg, thought), [(a, None) for a in actions]
    if style.use_fences:
        blocks = [b for b in fenced_blocks(text)
                  if style.fence_languages is None or b[1] in style.fence_languages]
        if blocks:
            start, _lang, body = blocks[-1]
            return with_reasoning(msg, text[:start]), [(a, None) for a in style.command(body)]
    return with_reasoning(msg, text), []


def parse_chat(messages: Any, where: str = "messages", style: ChatStyle | None = None) -> ChatResult:
    style = style or ChatStyle()
    if not isinstance(messages, list):
        raise RecordError(where, f"expected a list of messages, got {type(messages).__name__}")
    result = ChatResult(task_text="")
    pending: list[tuple[Step, str | None]] = []  # steps of the last assistant message, awaiting output
    carry = ""
    seen_task = False
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise RecordError(f"{where}[{i}]", f"expected an object, got {type(msg).__name__}")
        role = msg.get("role")
        if not isinstance(role, str):
            raise RecordError(f"{where}[{i}].role", "missing or not a string")
        if msg.get("is_demo"):
            continue
        if role == "system":
            result.system = content_text(msg.get("content"), f"{where}[{i}].content")
        elif role == "assistant" or role == "ai":
            thought, actions = _message_actions(msg, i, where, style)
            if not actions:
                carry += thought.strip() + "\n\n" if thought.strip() else ""
                continue
            pending = []
            for action, call_id in actions:
                step = make_step(carry + thought, action)
                carry, thought = "", ""
                result.steps.append(step)
                pending.append((step, call_id))
        elif role in ("user", "tool", "function"):
            text = content_text(msg.get("content"), f"{where}[{i}].content")
            if not seen_task and role == "user":
                result.task_text, seen_task = text, True
                continue
            if not pending:
                continue
            call_id = msg.get("tool_call_id") or (msg.get("tool_call_ids") or [None])[0]
            # A tool reply names its call; a plain user reply answers the message's last (executed) action.
            fallback = 0 if role == "tool" else len(pending) - 1
            # One call can give several steps (cleanup, then submit): its output belongs to the last of them.
            at = next((k for k in reversed(range(len(pending))) if call_id is not None and pending[k][1] == call_id),
                      fallback)
            target = pending.pop(at)
            output, code = split_observation(text)
            target[0].observation = make_step("", target[0].action, output).observation
            target[0].exit_code = code
            if role != "tool":
                pending = []
    return result
