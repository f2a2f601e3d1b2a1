"""Importers, one module per source format, registered by name in `FORMATS`; `detect_format` picks one."""

from __future__ import annotations

from typing import Any

# Import order is detection order: the specific formats first, the catch-all chat records last.
from srl_agent.trajectory.formats import (  # noqa: F401
    canonical, swe_agent, nebius, openhands_events, openhands_output, openhands_feedback, mini_swe_agent, openhands_sft,
    swe_gym, swe_smith)
from srl_agent.trajectory.formats.base import FORMATS, Format, RecordError

PREDICTION_KEYS = ("model_patch", "model_name_or_path")


def detect_format(record: Any) -> str | None:
    """The name of the first registered format whose detector accepts the record, or None."""
    for name, fmt in FORMATS.items():
        if fmt.detect(record):
            return name
    return None


def is_prediction(record: Any) -> bool:
    """SWE-bench predictions (instance_id + model_patch) are grading input, not trajectories."""
    return isinstance(record, dict) and all(k in record for k in PREDICTION_KEYS) and "messages" not in record


__all__ = ["FORMATS", "Format", "RecordError", "detect_format", "is_prediction"]
