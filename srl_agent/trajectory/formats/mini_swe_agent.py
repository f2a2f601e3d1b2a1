"""mini-swe-agent trajectories: a message list, or a row / v2 `.traj.json` with `messages` (and `info`).

v1 writes the action as a fenced bash block (```mswea_bash_command, ```bash in mini-swe-agent-plus); v2 as a
`bash` tool call, with a `tool` reply matched by `tool_call_id`. Observations are
`<returncode>N</returncode><output>...</output>`. Reasoning models' thoughts come from `reasoning_content` (the
visible `content` is often empty). The final `echo MINI_SWE_AGENT_FINAL_OUTPUT` (or
`COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT`, or the older `NANO_SWE_AGENT_FINAL_OUTPUT`) is the submit; commands
chained before it in the same block (`rm test_*.py && echo ...`) are kept as their own bash step so the submitted
state is the same. The patch is `info.submission` (v2), else the submission message that follows the submit
(v1: the output of `git diff` after the marker line) when it is a diff.
"""

from __future__ import annotations

import re
from typing import Any

from srl_agent.actions import SUBMIT, Action
from srl_agent.trajectory.formats.base import (Format, RecordError, decode_json_field, messages_haystack,
                                               record_messages, register, tool_call_action, unknown_tool)
from srl_agent.trajectory.formats.chat import ChatStyle
from srl_agent.trajectory.formats.messages_common import parse_messages_record
from srl_agent.trajectory.formats.outcome import lookup
from srl_agent.trajectory.schema import Source, Trajectory

MARKERS = ("MINI_SWE_AGENT_FINAL_OUTPUT", "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT", "NANO_SWE_AGENT_FINAL_OUTPUT")
_SUBMIT_RE = re.compile(r"(?:^|&&|;|\n)\s*echo\s+['\"]?(?:" + "|".join(MARKERS) + r")\b")


def command_actions(cmd: str) -> list[Action]:
    m = _SUBMIT_RE.search(cmd)
    if not m:
        return [Action.bash(cmd)]
    prefix = cmd[: m.start()].rstrip()
    if prefix:
        return [Action.bash(prefix), Action(SUBMIT, {})]
    return [Action(SUBMIT, {})]


def tool_call(name: str, args: Any, field: str) -> Action | list[Action]:
    """v2's `bash` tool call: the command is read like a fenced block (the submit marker included)."""
    if name == "bash":
        parsed = decode_json_field(args, f"{field}.arguments") if args is not None else {}
        cmd = parsed.get("command") if isinstance(parsed, dict) else None
        if not isinstance(cmd, str):
            raise RecordError(f"{field}.arguments.command", "missing or not a string")
        return command_actions(cmd)
    action = tool_call_action(name, args, field)
    if action is None:
        raise unknown_tool(field, name)
    return action


STYLE = ChatStyle(call=tool_call, command=command_actions, fence_languages=("mswea_bash_command", "bash", "sh"),
                  use_xml=False)


def detect(rec: Any) -> bool:
    messages = record_messages(rec)
    if messages is None:
        return False
    hay = messages_haystack(messages)
    return "<returncode>" in hay or "mswea_bash_command" in hay or any(m in hay for m in MARKERS)


def _submission(traj: Trajectory) -> tuple[str | None, str | None]:
    last = traj.steps[-1]
    if last.action.tool == SUBMIT and last.observation.startswith("diff --git"):
        return last.observation, "submission message"
    return None, None


def parse(rec: Any, source: Source) -> Trajectory:
    traj = parse_messages_record(rec, source, STYLE, patch_paths=("info.submission",), resolved_paths=("resolved",))
    status = lookup(rec, "info.exit_status") if isinstance(rec, dict) else None
    if isinstance(status, str):
        traj.meta["exit_status"] = status
    if traj.patch is None:
        patch, where = _submission(traj)
        if patch:
            traj.patch, traj.meta["patch_from"] = patch, where
    return traj


FORMAT = register(Format("mini-swe-agent", detect, parse, "mini-swe-agent message lists and .traj.json (v1 fenced "
                                                          "blocks, v2 tool calls)"))
