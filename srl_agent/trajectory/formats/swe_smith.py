"""SWE-smith trajectory records: `messages` (a list, or a JSON string on the HF hub) in xml, ticks or tool style.

xml: `<function=NAME><parameter=K>V</parameter></function>` in the assistant text, observations as user
messages starting "OBSERVATION:"; ticks: a fenced block holding a SWE-agent command (kept verbatim as bash,
`submit` alone is submit); tool: OpenAI `tool_calls` (bash / str_replace_editor / submit) and `tool` replies.
"""

from __future__ import annotations

from typing import Any

from srl_agent.trajectory.formats.base import Format, record_messages, register
from srl_agent.trajectory.formats.chat import ChatStyle
from srl_agent.trajectory.formats.messages_common import parse_messages_record
from srl_agent.trajectory.schema import Source, Trajectory

STYLE = ChatStyle()


def detect(rec: Any) -> bool:
    return isinstance(rec, dict) and record_messages(rec) is not None


def parse(rec: Any, source: Source) -> Trajectory:
    return parse_messages_record(rec, source, STYLE)


FORMAT = register(Format("swe-smith", detect, parse, "SWE-smith records: messages (list or JSON string)"))
