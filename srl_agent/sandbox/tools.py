"""The agent's tools (bash, str_replace_editor, submit) as commands for the sandbox's session; nothing runs on the host."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from srl_agent.actions import BASH, EDITOR, SUBMIT, Action
from srl_agent.sandbox.container import TOOLS_DIR
from srl_agent.sandbox.observation import Observation
from srl_agent.sandbox.session import TOOL_PATH

if TYPE_CHECKING:
    from srl_agent.sandbox.sandbox import Sandbox

_EOF = "__SRL_EDITOR_ARGS__"


def tool_command(python: str, script: str, *args: str, stdin_json: dict | None = None) -> str:
    """A command line that runs one of our in-container scripts with a clean environment (whatever the agent
    did to its shell: PATH, GIT_DIR, functions named `git`...), arguments as one JSON line on stdin."""
    from srl_agent.sandbox.session import bash_quote

    argv = " ".join(bash_quote(a) for a in args)
    line = (f"command /usr/bin/env -i PATH={TOOL_PATH} LANG=C.UTF-8 PYTHONUTF8=1 PYTHONDONTWRITEBYTECODE=1 "
            f"PYTHONIOENCODING=utf-8 {python} -S {TOOLS_DIR}/{script} {argv}")  # -S: stdlib only, faster start
    if stdin_json is None:
        return line
    # ensure_ascii keeps the JSON on one line of plain ASCII, so it can never contain the here-doc delimiter
    return f"{line} <<'{_EOF}'\n{json.dumps(stdin_json, ensure_ascii=True)}\n{_EOF}"


def execute(sb: "Sandbox", action: Action, timeout: float | None = None) -> Observation:
    """Run one agent action inside the sandbox and return what the agent observes."""
    if action.tool == BASH:
        if "command" not in action.args:
            return Observation("Error: the bash tool needs a `command` parameter.", 1)
        return sb.run(action.args["command"], timeout=timeout)
    if action.tool == EDITOR:
        return sb.run(tool_command(sb.session.python, "editor.py", stdin_json=dict(action.args)), timeout=timeout)
    if action.tool == SUBMIT:
        return Observation(sb.diff(), 0)
    return Observation(f"Error: unknown tool {action.tool!r}; the tools are {BASH}, {EDITOR} and {SUBMIT}.", 1)
