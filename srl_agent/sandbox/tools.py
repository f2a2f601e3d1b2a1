"""The agent's tools (bash, str_replace_editor, submit) on a runtime; nothing runs on the host."""

from __future__ import annotations

from typing import Protocol

from srl_agent.actions import BASH, EDITOR, SUBMIT, Action
from srl_agent.errors import TooLargeError
from srl_agent.sandbox.observation import Observation


class ToolTarget(Protocol):
    """What the tools need of a runtime: its shell, its editor, its patch (Sandbox and FakeRuntime have them)."""

    def run(self, command: str, timeout: float | None = None) -> Observation: ...

    def editor(self, args: dict, timeout: float | None = None) -> Observation: ...

    def diff(self) -> str: ...


def execute(sb: ToolTarget, action: Action, timeout: float | None = None) -> Observation:
    """Run one agent action on the runtime and return what the agent observes."""
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
