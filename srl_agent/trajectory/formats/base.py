"""What every importer shares: the format registry, the record error, field access and tool-call mapping."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from srl_agent import pyast
from srl_agent.actions import EDITOR, EDITOR_COMMANDS, PARAM_ORDER, SUBMIT, Action
from srl_agent.errors import InputError
from srl_agent.prompts import truncate_middle
from srl_agent.task import Task
from srl_agent.trajectory.schema import Source, Step, Trajectory

# Observations above this are cut (head + tail kept, marker in between) at import time, not rejected:
# the steps around a huge `cat` are still good data, and the split truncates much further anyway.
MAX_OBSERVATION_CHARS = 200_000


class RecordError(InputError):
    """One record cannot be imported; `field` names the part at fault (a dotted path)."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"field {field!r}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Format:
    """An importer: `detect(record)` says whether a raw record looks like this format; `parse` converts it."""

    name: str
    detect: Callable[[Any], bool]
    parse: Callable[[Any, Source], Trajectory]
    description: str = ""


FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    FORMATS[fmt.name] = fmt
    return fmt


def require(record: Any, key: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    """record[key], checked for presence and type; raises RecordError naming the field."""
    name = f"{where}{key}"
    if not isinstance(record, dict):
        raise RecordError(where.rstrip(".") or "(record)", "expected an object")
    if key not in record or record[key] is None:
        raise RecordError(name, "missing")
    value = record[key]
    if not isinstance(value, kind):
        want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise RecordError(name, f"expected {want}, got {type(value).__name__}")
    return value


def optional_str(record: dict, *keys: str) -> str | None:
    for key in keys:
        value = record.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def as_bool(value: Any) -> bool | None:
    """Resolved flags come as bools, 0/1, or the strings 'True' / 'false' in published datasets."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    return None


def content_text(content: Any, field: str) -> str:
    """Chat content as text: a string, or a list of {"type": "text", "text": ...} parts (others are skipped)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") in ("thinking", "reasoning"):
                continue  # hidden reasoning is read by reasoning_text, not shown as the visible text
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "".join(parts)
    raise RecordError(field, f"expected text or a list of text parts, got {type(content).__name__}")


def decode_json_field(value: Any, field: str) -> Any:
    """Fields that some writers store as JSON strings (or Python reprs, as SWE-agent's tool_calls)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        pass
    try:
        return pyast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise RecordError(field, "a string that is neither JSON nor a literal") from None


def cap_observation(text: str) -> str:
    return truncate_middle(text, MAX_OBSERVATION_CHARS)


def make_step(thought: str, action: Action, observation: str = "", exit_code: int | None = None) -> Step:
    return Step(thought=thought.strip(), action=action, observation=cap_observation(observation),
                exit_code=exit_code)


def _editor_action(args: dict, field: str) -> Action:
    cmd = args.get("command")
    if cmd not in EDITOR_COMMANDS:
        raise RecordError(field, f"str_replace_editor command {cmd!r} is not one of {', '.join(EDITOR_COMMANDS)}")
    if not isinstance(args.get("path"), str) or not args["path"]:
        raise RecordError(field, "str_replace_editor call without a path")
    known = PARAM_ORDER[EDITOR]
    clean = {k: _arg_text(v) for k, v in args.items() if k in known and v is not None}
    return Action(EDITOR, clean)


def _arg_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


# OpenAI-style tool names used by SWE-agent/SWE-smith (bash, submit) and OpenHands (execute_bash, finish)
# mapped to our three tools; OpenHands' other tools stay generic Actions under their own name.
BASH_NAMES = ("bash", "execute_bash", "cmd_run")
SUBMIT_NAMES = ("submit", "finish")
GENERIC_NAMES = ("execute_ipython_cell", "think", "browser", "web_read", "edit_file", "fetch")


def tool_call_action(name: str, args: Any, field: str, *, extra_known: tuple[str, ...] = ()) -> Action | None:
    """Map a structured (name, arguments) call; None means the name is outside the tables (caller decides)."""
    args = decode_json_field(args, f"{field}.arguments") if args is not None else {}
    if not isinstance(args, dict):
        raise RecordError(f"{field}.arguments", f"expected an object, got {type(args).__name__}")
    if name in BASH_NAMES:
        cmd = args.get("command")
        if not isinstance(cmd, str):
            raise RecordError(f"{field}.arguments.command", "missing or not a string")
        return Action.bash(cmd)
    if name == EDITOR or name == "str_replace_based_edit_tool":
        return _editor_action(args, f"{field}.arguments")
    if name in SUBMIT_NAMES:
        return Action(SUBMIT, {})
    if name in GENERIC_NAMES or name in extra_known:
        return Action(name, {str(k): _arg_text(v) for k, v in args.items() if v is not None})
    return None


def unknown_tool(field: str, name: str) -> RecordError:
    return RecordError(field, f"unknown tool {name!r}: this importer does not know how to replay it")


_FUNC_RE = re.compile(r"<function=([A-Za-z_][\w\-.]*)>(.*?)</function>", re.DOTALL)
_PARAM_RE = re.compile(r"<parameter=([A-Za-z_][\w\-]*)>(.*?)</parameter>", re.DOTALL)


def xml_calls(text: str) -> list[tuple[int, int, str, dict[str, str]]]:
    """Every `<function=NAME><parameter=K>V</parameter>...</function>` call: (start, end, name, args).

    Values are stripped, as SWE-agent's XML parser does before it runs the call (so the canonical action
    is what was executed; SWE-smith writes old_str / new_str / file_text with a newline on each side).
    """
    out = []
    for m in _FUNC_RE.finditer(text):
        params = {p.group(1): p.group(2).strip() for p in _PARAM_RE.finditer(m.group(2))}
        out.append((m.start(), m.end(), m.group(1), params))
    return out


_FENCE_RE = re.compile(r"^```([\w\-]*)[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def fenced_blocks(text: str) -> list[tuple[int, str, str]]:
    """Fenced code blocks as (start, language, body without the final newline)."""
    return [(m.start(), m.group(1), m.group(2)[:-1] if m.group(2).endswith("\n") else m.group(2))
            for m in _FENCE_RE.finditer(text)]


# OpenHands' in-context-learning prompt puts a worked example before the real task; only the task is the issue.
_NEW_TASK_RE = re.compile(r"-+ (?:START OF )?NEW TASK DESCRIPTION -+\n(.*?)\n-+ END OF NEW TASK DESCRIPTION -+",
                          re.DOTALL)
_ISSUE_PATTERNS = (
    re.compile(r"<pr_description>\n?(.*?)\n?</pr_description>", re.DOTALL),
    re.compile(r"<issue_description>\n?(.*?)\n?</issue_description>", re.DOTALL),
    re.compile(r"<issue>\n?(.*?)\n?</issue>", re.DOTALL),
    re.compile(r"ISSUE:\n(.*?)\n\nINSTRUCTIONS:", re.DOTALL),
    re.compile(r"^Please solve this issue: (.*?)\n\nYou can execute bash commands", re.DOTALL),
)


def issue_text(first_user_message: str) -> str:
    """The issue inside a scaffold's task message when a known wrapper is found, else the whole message."""
    m = _NEW_TASK_RE.search(first_user_message)
    if m and m.group(1).strip():
        first_user_message = m.group(1)
    for pat in _ISSUE_PATTERNS:
        m = pat.search(first_user_message)
        if m and m.group(1).strip():
            return m.group(1)
    return first_user_message.strip()


def make_task(instance_id: str | None, problem_statement: str, source: Source, **extra: Any) -> Task:
    if not problem_statement.strip():
        raise RecordError("problem_statement", "no task text found (the first user message is empty or missing)")
    iid = instance_id or f"{source.file.rsplit('/', 1)[-1]}#{source.index}"
    kw = {k: v for k, v in extra.items() if v is not None}
    return Task(instance_id=iid, problem_statement=problem_statement, **kw)


# Tools that do not act on the environment: a record whose steps are only these is a conversation, not a
# trajectory (a question answered and finished); replaying or learning from it teaches nothing about the repo.
NON_ENVIRONMENT_TOOLS = (SUBMIT, "think")


def finish(task: Task, steps: list[Step], source: Source, *, resolved: bool | None = None, patch: str | None = None,
           meta: dict | None = None, resolved_from: str | None = None, patch_from: str | None = None) -> Trajectory:
    """The trajectory, with where its resolved flag and patch came from in `meta` (`resolved_from`, `patch_from`)."""
    if not steps:
        raise RecordError("steps", "the trajectory has no actions")
    if all(s.action.tool in NON_ENVIRONMENT_TOOLS for s in steps):
        only = ", ".join(sorted({s.action.tool for s in steps}))
        raise RecordError("steps", f"no environment action (only {only}): a question-and-answer session, not an "
                                   "agent trajectory")
    meta = dict(meta or {})
    if resolved is not None and resolved_from:
        meta["resolved_from"] = resolved_from
    if patch and patch_from:
        meta["patch_from"] = patch_from
    return Trajectory(task=task, steps=steps, source=source, resolved=resolved, patch=patch or None, meta=meta)


_REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")


def reasoning_text(msg: dict) -> str:
    """A reasoning model's hidden thought, wherever the writer put it: `reasoning_content` / `reasoning` /
    `thinking` (also under `provider_specific_fields`), litellm's `thinking_blocks`, or thinking content parts."""
    parts: list[str] = []
    for holder in (msg, msg.get("provider_specific_fields")):
        if isinstance(holder, dict):
            text = next((holder[k] for k in _REASONING_KEYS if isinstance(holder.get(k), str) and holder[k].strip()),
                        None)
            if text:
                parts.append(text)
                break
    if not parts:
        blocks = msg.get("thinking_blocks")
        content = msg.get("content")
        for block in (blocks if isinstance(blocks, list) else []) + (content if isinstance(content, list) else []):
            if isinstance(block, dict) and block.get("type") in ("thinking", "reasoning"):
                text = block.get("thinking", block.get("text"))
                if isinstance(text, str) and text.strip():
                    parts.append(text)
    return "\n\n".join(p.strip() for p in parts)


def with_reasoning(msg: dict, visible: str) -> str:
    """The step's thought: the hidden reasoning first (it came first), then the visible text."""
    hidden = reasoning_text(msg)
    if hidden and visible.strip():
        return f"{hidden}\n\n{visible.strip()}"
    return hidden or visible


def is_message_list(value: Any) -> bool:
    return (isinstance(value, list) and bool(value) and all(isinstance(m, dict) for m in value[:3])
            and all("role" in m for m in value[:3]))



# ShareGPT-style SFT rows ({"conversations": [{"from": "human", "value": ...}]}, optional top-level "system").
_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "system": "system", "tool": "tool", "observation": "tool", "function": "tool"}


def _is_sharegpt(value: Any) -> bool:
    return (isinstance(value, list) and bool(value) and all(isinstance(m, dict) for m in value[:3])
            and all("from" in m and "value" in m for m in value[:3]))


def record_messages(rec: Any, key: str = "messages") -> list | str | None:
    """The chat messages of a record, undecoded: a list, a JSON string, or None when there are none."""
    if isinstance(rec, list):
        return rec if is_message_list(rec) else None
    if isinstance(rec, dict):
        value = rec.get(key)
        if isinstance(value, list) or (isinstance(value, str) and value.lstrip().startswith("[")):
            return value
        if key == "messages" and _is_sharegpt(rec.get("conversations")):
            return rec["conversations"]
    return None


def _from_sharegpt(rec: dict) -> list[dict]:
    out = [{"role": "system", "content": rec["system"]}] if isinstance(rec.get("system"), str) else []
    for i, m in enumerate(rec["conversations"]):
        role = _SHAREGPT_ROLES.get(m.get("from")) if isinstance(m, dict) else None
        if role is None:
            raise RecordError(f"conversations[{i}].from", f"unknown speaker {m.get('from') if isinstance(m, dict) else m!r}")
        out.append({"role": role, "content": m.get("value")})
    return out


def messages_haystack(messages: list | str, limit: int = 400_000) -> str:
    """Text to look for format markers in, without decoding a JSON string (detection must stay cheap)."""
    if isinstance(messages, str):
        return messages[:limit]
    parts, size = [], 0
    for m in messages:
        if isinstance(m, dict):
            for key in ("content", "tool_calls", "value"):
                v = m.get(key)
                s = v if isinstance(v, str) else (repr(v) if v else "")
                parts.append(s)
                size += len(s)
        if size > limit:
            break
    return "\n".join(parts)


def decode_messages(rec: Any, key: str = "messages") -> list:
    """The record's messages as a list, decoding a JSON string (as published on the HF hub)."""
    if isinstance(rec, list):
        return rec
    if isinstance(rec, dict) and key not in rec and _is_sharegpt(rec.get("conversations")):
        return _from_sharegpt(rec)
    value = require(rec, key, (list, str))
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RecordError(key, f"a JSON string that does not decode ({exc.msg} at char {exc.pos})") from None
        if not isinstance(value, list):
            raise RecordError(key, f"decodes to {type(value).__name__}, expected a list of messages")
    return value
