"""Reading user files that may be one JSON document or JSON Lines, with errors that name the line."""

from __future__ import annotations

import json
from pathlib import Path

from srl_agent.errors import InputError


def read_json_or_jsonl(path: Path):
    """The parsed JSON document, or the list of JSONL rows when the file is not a single document."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{n}: neither a JSON document nor JSON Lines ({exc.msg})") from None
    return rows
