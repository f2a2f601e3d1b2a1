"""How the viewer names and shows one action: the tool it really is, a one-line brief, and its arguments.

Canonical trajectories keep SWE-agent's own commands (`open`, `edit ... end_of_edit`, `find_file`, ...) as the
text of a bash call, since their meaning lives in SWE-agent's tool bundles. Shown as bash they would mislead:
a reader would think `edit 10:12` ran a shell program. So in expert traces a bash call whose first word is
one of those commands is shown under the command's own name, marked as a SWE-agent command, with what the
command does. Any other tool (OpenHands' `execute_ipython_cell`, ...) is shown under its own name.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from srl_agent.actions import BASH, EDITOR, Action, FormatError, parse_call

# SWE-agent's tool bundles (tools/defaults, search, edit_linting, edit_replace, windowed_edit_*, filemap,
# submit): what each command does, for the reader of a trajectory that used them.
SWE_AGENT_COMMANDS: dict[str, str] = {
    "open": "opens a file in SWE-agent's windowed file viewer (optionally at a line)",
    "goto": "moves SWE-agent's file viewer window to a line",
    "scroll_up": "moves SWE-agent's file viewer window up",
    "scroll_down": "moves SWE-agent's file viewer window down",
    "create": "creates a new file and opens it in SWE-agent's file viewer",
    "edit": "edits the file open in SWE-agent's viewer (`edit N:M` ... `end_of_edit` replaces lines N-M; "
            "`edit 'search' 'replace'` replaces text)",
    "insert": "inserts text into the file open in SWE-agent's viewer (at the end, or after a line)",
    "append": "appends text to the file open in SWE-agent's viewer",
    "find_file": "SWE-agent search: finds files by name",
    "search_dir": "SWE-agent search: a term in all files of a directory",
    "search_file": "SWE-agent search: a term in one file",
    "filemap": "prints a Python file with function bodies elided (SWE-agent)",
    "str_replace_editor": "SWE-agent's file editor, called as a command",
    "submit": "SWE-agent's submit: the current diff is the answer",
}
_BRIEF_CHARS = 160


@dataclass(frozen=True)
class ShownAction:
    """An action as the viewer presents it."""

    name: str                  # the tool, or the SWE-agent command
    brief: str                 # one line for the step's summary
    swe_agent: bool = False    # a SWE-agent command carried as bash text
    note: str = ""             # what the command does (SWE-agent commands)


def swe_agent_command(command: str) -> str | None:
    """The SWE-agent command a bash command text is, or None when it is a shell command."""
    first = command.lstrip().split(None, 1)
    if not first:
        return None
    word = first[0]
    if word not in SWE_AGENT_COMMANDS or (word == "edit" and len(first) == 1):
        return None
    return word


def _one_line(text: str) -> str:
    text = " ".join(part.strip() for part in text.strip().splitlines() if part.strip())
    return text if len(text) <= _BRIEF_CHARS else text[: _BRIEF_CHARS - 1] + "…"


def _parse(action_text: str) -> Action | None:
    try:
        return parse_call(action_text, tools=None)
    except FormatError:
        return None


def describe(action_text: str | None, tool: str | None = None, *, expert: bool = False) -> ShownAction:
    """Name, brief and kind of a canonical action text. `expert`: the trace comes from an imported trajectory,
    where bash text may be a SWE-agent command."""
    if not action_text:
        return ShownAction(tool or "?", "")
    action = _parse(action_text)
    if action is None:
        return ShownAction(tool or "?", _one_line(action_text))
    if action.tool == BASH:
        command = action.args.get("command", "")
        word = swe_agent_command(command) if expert else None
        if word is not None:
            first_line = command.lstrip().splitlines()[0]
            return ShownAction(word, _one_line(first_line[len(word):]), True, SWE_AGENT_COMMANDS[word])
        return ShownAction(BASH, _one_line(command))
    if action.tool == EDITOR:
        args = action.args
        extra = f" {args['view_range']}" if args.get("view_range") else ""
        extra += f" after line {args['insert_line']}" if args.get("insert_line") else ""
        return ShownAction(EDITOR, f"{args.get('command', '')} {args.get('path', '')}{extra}")
    return ShownAction(action.tool, _one_line(" ".join(v for v in action.args.values())))


def action_body_html(action_text: str, shown: ShownAction) -> str:
    """The action's arguments as labelled blocks (not the XML), so a long command or file text reads as code."""
    action = _parse(action_text)
    if action is None:
        return f"<pre class=\"act\">{escape(action_text)}</pre>"
    head = f'<span class="tool">{escape(shown.name)}</span>'
    if shown.swe_agent:
        head += f' <span class="swe">SWE-agent command</span> <span class="meta">{escape(shown.note)}</span>'
    elif action.tool not in (BASH, EDITOR, "submit"):
        head += ' <span class="meta">(tool of the source scaffold)</span>'
    rows = []
    for key, value in action.args.items():
        if action.tool == BASH and key == "command":
            rows.append(f"<pre class=\"act\">{escape(value)}</pre>")
        elif "\n" in value or len(value) > 80:
            rows.append(f'<div class="cap">{escape(key)}</div><pre class="act">{escape(value)}</pre>')
        else:
            rows.append(f'<div class="kv"><span class="cap">{escape(key)}</span> <code>{escape(value)}</code></div>')
    return f'<div class="act-head">{head}</div>' + "".join(rows)
