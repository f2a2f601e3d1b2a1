"""mini-swe-agent trajectories: a message list (or a row with `messages`); the action is a fenced bash block.

Blocks are ```mswea_bash_command (mini-swe-agent) or ```bash (mini-swe-agent-plus); observations are
`<returncode>N</returncode><output>...</output>`. The final `echo MINI_SWE_AGENT_FINAL_OUTPUT` (or
`COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT`) is the submit; commands chained before it in the same block
(e.g. `rm test_*.py && echo ...`) are kept as their own bash step so the submitted state is the same.
"""

from __future__ import annotations

import re
from typing import Any

from srl_agent.actions import SUBMIT, Action
from srl_agent.trajectory.formats.base import Format, messages_haystack, record_messages, register
from srl_agent.trajectory.formats.chat import ChatStyle
from srl_agent.trajectory.formats.messages_common import parse_messages_record
from srl_agent.trajectory.schema import Source, Trajectory

MARKERS = ("MINI_SWE_AGENT_FINAL_OUTPUT", "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")
_SUBMIT_RE = re.compile(r"(?:^|&&|;|\n)\s*echo\s+['\"]?(?:" + "|".join(MARKERS) + r")\b")


def command_actions(cmd: str) -> list[Action]:
    m = _SUBMIT_RE.search(cmd)
    if not m:
        return [Action.bash(cmd)]
    prefix = cmd[: m.start()].rstrip()
    if prefix:
        return [Action.bash(prefix), Action(SUBMIT, {})]
    return [Action(SUBMIT, {})]


STYLE = ChatStyle(command=command_actions, fence_languages=("mswea_bash_command", "bash", "sh"), use_xml=False)


def detect(rec: Any) -> bool:
    messages = record_messages(rec)
    if messages is None:
        return False
    hay = messages_haystack(messages)
    return "<returncode>" in hay or "mswea_bash_command" in hay or any(m in hay for m in MARKERS)


def parse(rec: Any, source: Source) -> Trajectory:
    return parse_messages_record(rec, source, STYLE)


FORMAT = register(Format("mini-swe-agent", detect, parse, "mini-swe-agent message lists (fenced bash blocks)"))
