"""SWE-Gym/OpenHands SFT trajectories: `<function=execute_bash>` calls in text, "EXECUTION RESULT of [...]" replies."""

from __future__ import annotations

from typing import Any

from srl_agent.trajectory.formats.base import Format, messages_haystack, record_messages, register
from srl_agent.trajectory.formats.chat import ChatStyle
from srl_agent.trajectory.formats.messages_common import parse_messages_record
from srl_agent.trajectory.schema import Source, Trajectory

STYLE = ChatStyle(use_fences=False)


def detect(rec: Any) -> bool:
    messages = record_messages(rec)
    if messages is None:
        return False
    hay = messages_haystack(messages)
    return "EXECUTION RESULT of [" in hay or "<function=execute_bash>" in hay


def parse(rec: Any, source: Source) -> Trajectory:
    return parse_messages_record(rec, source, STYLE)


FORMAT = register(Format("openhands-sft", detect, parse, "OpenHands SFT: XML-style calls in text"))
