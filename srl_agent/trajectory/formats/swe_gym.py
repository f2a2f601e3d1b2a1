"""SWE-Gym / OpenHands sampled trajectories: OpenAI `tool_calls` (execute_bash, str_replace_editor, finish)."""

from __future__ import annotations

from typing import Any

from srl_agent.trajectory.formats.base import Format, messages_haystack, record_messages, register
from srl_agent.trajectory.formats.chat import ChatStyle
from srl_agent.trajectory.formats.messages_common import parse_messages_record
from srl_agent.trajectory.schema import Source, Trajectory

STYLE = ChatStyle(use_xml=False, use_fences=False)


def detect(rec: Any) -> bool:
    messages = record_messages(rec)
    if messages is None or not isinstance(rec, dict):
        return False
    if "run_id" in rec or "test_result" in rec:
        return True
    hay = messages_haystack(messages)
    return "execute_bash" in hay and "tool_calls" in hay


def parse(rec: Any, source: Source) -> Trajectory:
    return parse_messages_record(rec, source, STYLE)


FORMAT = register(Format("swe-gym", detect, parse, "SWE-Gym/OpenHands sampled trajectories (tool_calls)"))
