"""Reading user files that may be one JSON document or JSON Lines, with errors that name the line; telling a
text file from a binary one (a PNG given where JSON belongs) for one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from srl_agent.errors import InputError


SNIFF_BYTES = 64 * 1024
_MAGIC = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"), (b"%PDF", "a PDF"),
          (b"PK\x03\x04", "a zip archive"), (b"\x1f\x8b", "gzip-compressed data"), (b"PAR1", "a parquet file"),
          (b"\x7fELF", "a program"), (b"SQLite format", "an SQLite database"))


def looks_like(head: bytes) -> str:
    """What binary data seems to be, from its first bytes (`a PNG image`, else `binary data`)."""
    return next((name for magic, name in _MAGIC if head.startswith(magic)), "binary data")


def binary_kind(path: str | Path) -> str | None:
    """None when the start of `path` reads as UTF-8 text; else what it looks like (`a PNG image`)."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if b"\x00" in head:
        return looks_like(head)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not merely a character cut at the end of the sample
            return looks_like(head)
    return None


def not_text(path: str | Path, exc: UnicodeDecodeError | None = None, expected: str = "JSON or JSONL") -> InputError:
    """The one-line error for a binary file where text belongs."""
    try:
        what = binary_kind(path) or "not valid UTF-8"
    except OSError:
        what = "not valid UTF-8"
    where = f" at byte {exc.start}" if exc is not None and what == "not valid UTF-8" else ""
    return InputError(f"{path}: not a UTF-8 text file ({what}{where}); give {expected}")


def read_text(path: str | Path, expected: str = "JSON or JSONL", what: str = "file") -> str:
    """A user's text file, or an InputError naming it: missing, a folder, unreadable, or binary."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise not_text(p, exc, expected) from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a folder; give a {what}") from None
    except FileNotFoundError:
        raise InputError(f"{p}: no such {what}") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot be read ({exc.strerror or exc})") from None


def read_json_or_jsonl(path: Path):
    """The parsed JSON document, or the list of JSONL rows when the file is not a single document."""
    text = read_text(path)
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
