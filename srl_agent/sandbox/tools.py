"""The agent's tools (bash, str_replace_editor, submit) on a sandbox; nothing runs on the host."""

from __future__ import annotations

from typing import TYPE_CHECKING

from srl_agent.actions import BASH, EDITOR, SUBMIT, Action
from srl_agent.errors import TooLargeError
from srl_agent.sandbox.observation import Observation

if TYPE_CHECKING:
    from srl_agent.sandbox.sandbox import Sandbox


def execute(sb: "Sandbox", action: Action, timeout: float | None = None) -> Observation:
    """Run one agent action inside the sandbox and return what the agent observes."""
    if action.tool == BASH:
        if "command" not in action.args:
            return Observation("Error: the bash tool needs a `command` parameter.", 1)
        return sb.run(action.args["command"], timeout=timeout)
    if action.tool == EDITOR:
        return sb.editor(dict(action.args), timeout=timeout)
    if action.tool == SUBMIT:
        try:
            return Observation(sb.diff(), 0)
        except TooLargeError as exc:
            return Observation(f"Error: cannot submit: {exc}.", 1)
    return Observation(f"Error: unknown tool {action.tool!r}; the tools are {BASH}, {EDITOR} and {SUBMIT}.", 1)
