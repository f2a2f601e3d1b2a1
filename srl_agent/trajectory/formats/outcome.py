"""Where a source record keeps its outcome: the resolved flag and the submitted patch, and the field each came from.

Writers put them in different places (SWE-smith `resolved` + `patch`, nebius `target` + `generated_patch`, SWE-Gym
`resolved` + `test_result.git_patch`, OpenHands `success` / `test_result.report.resolved` + `git_patch`,
SWE-agent and mini-swe-agent `info.submission`); each importer names the paths its format uses, in order.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from srl_agent import pyast
from srl_agent.trajectory.formats.base import as_bool

RESOLVED_PATHS = ("resolved", "target", "verified", "success", "test_result.resolved", "test_result.report.resolved",
                  "info.resolved")
PATCH_PATHS = ("patch", "git_patch", "model_patch", "generated_patch", "test_result.git_patch", "info.submission")


def _as_mapping(value: Any) -> Any:
    """Nested records are sometimes stored as JSON or Python-repr strings (SWE-Gym's `test_result.report`)."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            try:
                return pyast.literal_eval(value)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return None
    return value


def lookup(record: Any, path: str) -> Any:
    """record["a"]["b"] for "a.b"; None when any part is missing."""
    value = record
    for key in path.split("."):
        value = _as_mapping(value)
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def find_resolved(record: Any, paths: Iterable[str] = RESOLVED_PATHS) -> tuple[bool | None, str | None]:
    """(resolved, the path it came from) for the first path holding a readable flag; (None, None) when none does."""
    for path in paths:
        flag = as_bool(lookup(record, path))
        if flag is not None:
            return flag, path
    return None, None


def find_patch(record: Any, paths: Iterable[str] = PATCH_PATHS) -> tuple[str | None, str | None]:
    """(patch, the path it came from) for the first path holding a non-empty string."""
    for path in paths:
        value = lookup(record, path)
        if isinstance(value, str) and value.strip():
            return value, path
    return None, None
