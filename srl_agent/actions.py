"""Actions: the typed call a step makes, its canonical text, and the strict parser for student outputs.

The canonical rendering is the XML-style function call of SWE-smith / SWE-agent's XML scaffold, which is
also what the student must write and what the step reward compares:

    <function=NAME>
    <parameter=KEY>VALUE</parameter>
    ...
    </function>

Parameters appear in a fixed order per tool (PARAM_ORDER; unknown keys follow, sorted), one per line;
values are verbatim (no stripping, no escaping), so `render(parse_call(text)) == text` for canonical text.
A call with no parameters renders as "<function=NAME>\n</function>".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from srl_agent.errors import SRLError

BASH = "bash"
EDITOR = "str_replace_editor"
SUBMIT = "submit"
KNOWN_TOOLS = (BASH, EDITOR, SUBMIT)
EDITOR_COMMANDS = ("view", "create", "str_replace", "insert", "undo_edit")

PARAM_ORDER: dict[str, tuple[str, ...]] = {
    BASH: ("command",),
    EDITOR: ("command", "path", "file_text", "view_range", "old_str", "new_str", "insert_line"),
    SUBMIT: (),
}


@dataclass(frozen=True)
class Action:
    """One environment-consumable call: a tool name and its string arguments."""

    tool: str
    args: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def bash(command: str) -> "Action":
        return Action(BASH, {"command": command})

    @staticmethod
    def editor(command: str, path: str, **kw: object) -> "Action":
        args = {"command": command, "path": path}
        args.update({k: str(v) for k, v in kw.items() if v is not None})
        return Action(EDITOR, args)

    @staticmethod
    def submit() -> "Action":
        return Action(SUBMIT, {})

    def render(self) -> str:
        return render(self)

    def to_dict(self) -> dict:
        return {"tool": self.tool, "args": dict(self.args)}

    @staticmethod
    def from_dict(d: dict) -> "Action":
        return Action(str(d["tool"]), {str(k): str(v) for k, v in (d.get("args") or {}).items()})


def ordered_keys(tool: str, keys) -> list[str]:
    order = PARAM_ORDER.get(tool, ())
    first = [k for k in order if k in keys]
    return first + sorted(k for k in keys if k not in order)


def render(action: Action) -> str:
    """The canonical text of an action (see the module docstring)."""
    lines = [f"<function={action.tool}>"]
    for key in ordered_keys(action.tool, action.args):
        lines.append(f"<parameter={key}>{action.args[key]}</parameter>")
    lines.append("</function>")
    return "\n".join(lines)


_CALL_RE = re.compile(r"<function=([A-Za-z_][\w\-.]*)>(.*?)</function>", re.DOTALL)
_PARAM_RE = re.compile(r"<parameter=([A-Za-z_][\w\-]*)>(.*?)</parameter>", re.DOTALL)
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"


class FormatError(SRLError, ValueError):
    """A completion or call text is not in the expected format (the reason is the message)."""


def parse_call(text: str, *, tools: tuple[str, ...] | None = KNOWN_TOOLS) -> Action:
    """Parse exactly one canonical call (surrounding whitespace allowed). Raises FormatError."""
    calls = list(_CALL_RE.finditer(text))
    if not calls:
        raise FormatError("no <function=...>...</function> call")
    if len(calls) > 1:
        raise FormatError(f"{len(calls)} calls; exactly one is allowed")
    call = calls[0]
    if text[: call.start()].strip() or text[call.end():].strip():
        raise FormatError("text outside the call")
    name, body = call.group(1), call.group(2)
    if tools is not None and name not in tools:
        raise FormatError(f"unknown tool {name!r} (known: {', '.join(tools)})")
    args: dict[str, str] = {}
    pos = 0
    for m in _PARAM_RE.finditer(body):
        if body[pos: m.start()].strip():
            raise FormatError("stray text between parameters")
        key = m.group(1)
        if key in args:
            raise FormatError(f"parameter {key!r} given twice")
        args[key] = m.group(2)
        pos = m.end()
    if body[pos:].strip():
        raise FormatError("stray text after the parameters (unclosed <parameter>?)")
    _check_args(name, args)
    return Action(name, args)


def _check_args(tool: str, args: dict[str, str]) -> None:
    if tool == BASH and "command" not in args:
        raise FormatError("bash needs a 'command' parameter")
    if tool == EDITOR:
        cmd = args.get("command")
        if cmd not in EDITOR_COMMANDS:
            raise FormatError(f"str_replace_editor command must be one of {', '.join(EDITOR_COMMANDS)}")
        if not args.get("path"):
            raise FormatError("str_replace_editor needs a 'path' parameter")


@dataclass(frozen=True)
class ParsedOutput:
    """What a student completion parsed into; `error` is None exactly when the output is well formed."""

    think: str | None
    action: Action | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_completion(text: str, *, tools: tuple[str, ...] | None = KNOWN_TOOLS) -> ParsedOutput:
    """Strictly parse `<think>...</think>` followed by exactly one call and nothing else."""
    stripped = text.strip()
    if not stripped.startswith(_THINK_OPEN):
        return ParsedOutput(None, None, "output must start with <think>")
    end = stripped.find(_THINK_CLOSE)
    if end < 0:
        return ParsedOutput(None, None, "unclosed <think>")
    think = stripped[len(_THINK_OPEN): end]
    if _THINK_OPEN in think:
        return ParsedOutput(None, None, "nested or repeated <think>")
    if not think.strip():
        return ParsedOutput(think, None, "empty <think> block")
    rest = stripped[end + len(_THINK_CLOSE):]
    if _THINK_OPEN in rest or _THINK_CLOSE in rest:
        return ParsedOutput(think, None, "more than one <think> block")
    try:
        action = parse_call(rest, tools=tools)
    except FormatError as exc:
        return ParsedOutput(think, None, str(exc))
    return ParsedOutput(think, action, None)


def format_completion(think: str, action: Action) -> str:
    """The well-formed student output for a thought and an action (used by fakes, SFT targets and demos)."""
    return f"{_THINK_OPEN}\n{think.strip()}\n{_THINK_CLOSE}\n{render(action)}"
