"""OpenHands feedback rows (the 2024 share-feedback form): `{version, feedback, permissions, timestamp, trajectory}`.

`trajectory` is an OpenHands event stream, in the feedback table's shape (every event has every column; an
action's arguments are under `extras`) or the native one (`args`); it is read by the event-stream importer.
`feedback` is the user's rating of the session, not a test result, so `resolved` stays unknown; it is kept in
`meta.feedback`.
"""

from __future__ import annotations

from typing import Any

from srl_agent.trajectory.formats.base import Format, RecordError, finish, issue_text, make_task, register, require
from srl_agent.trajectory.formats.openhands_events import event_steps, is_event
from srl_agent.trajectory.schema import Source, Trajectory

KEYS = ("version", "feedback", "polarity", "permissions")


def detect(rec: Any) -> bool:
    if not isinstance(rec, dict) or not isinstance(rec.get("trajectory"), list) or not rec["trajectory"]:
        return False
    # The stream may open with bookkeeping that is neither action nor observation ({"status": "ok"}).
    head = rec["trajectory"][:8]
    return any(k in rec for k in KEYS) and all(isinstance(e, dict) for e in head) and any(is_event(e) for e in head)


def parse(rec: Any, source: Source) -> Trajectory:
    if not isinstance(rec, dict):
        raise RecordError("(record)", f"expected an object, got {type(rec).__name__}")
    task_text, steps, errors = event_steps(require(rec, "trajectory", list), "trajectory")
    ident = rec.get("id")
    task = make_task(f"openhands-feedback-{ident}" if isinstance(ident, (str, int)) else None, issue_text(task_text),
                     source)
    meta = {k: rec[k] for k in (*KEYS, "timestamp", "id") if isinstance(rec.get(k), (str, int))}
    if errors:
        meta["errors_without_action"] = errors
    return finish(task, steps, source, meta=meta)


FORMAT = register(Format("openhands-feedback", detect, parse, "OpenHands 2024 feedback rows (trajectory of events)"))
