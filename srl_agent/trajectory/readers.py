"""Raw records out of input files: JSON, JSONL, .traj, gzip, parquet, arrow and HF datasets saved to disk.

A record is what one importer call converts: a JSONL line, an element of a JSON list of rows, a whole JSON
file (a .traj, an event list, a message list), or a dataset row. Unreadable records come back as errors
with their position, so one bad line never stops the rest. Record index: JSONL 0-based line number, JSON
list element index, dataset row number, 0 for a one-record file.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterator

from srl_agent.errors import InputError

TEXT_SUFFIXES = (".json", ".jsonl", ".traj", ".ndjson")
DATA_SUFFIXES = (".parquet", ".arrow")


@dataclass
class RawRecord:
    file: str
    index: int
    value: Any = None
    error: str | None = None  # why the record could not be read
    field: str = "(record)"


@dataclass(frozen=True)
class Unit:
    """A piece of input one worker reads: a whole file, a byte range of a large JSONL file, or a dataset read
    through `datasets.load_dataset` (`kind="dataset"`: a Hub id, a dataset repo folder, a parquet shard)."""

    path: str
    start: int = 0
    end: int = -1
    first_line: int = 0
    kind: str = "file"
    split: str | None = None


def _is_dataset_dir(p: Path) -> bool:
    return (p / "dataset_info.json").is_file() or (p / "dataset_dict.json").is_file() or (p / "state.json").is_file()


def input_units(sources: list[str], split: str | None = None) -> list[Path | Unit]:
    """Files to read (folders expanded) and datasets to load: Hub ids, dataset repo folders (or any folder when a
    split is asked for), parquet shards when a split is asked for."""
    from srl_agent.trajectory.hub import is_dataset_repo, is_hub_id

    out: list[Path | Unit] = []
    for src in sources:
        p = Path(src)
        if is_hub_id(src) or (src.endswith(".py") and p.is_file()) or (p.is_dir() and not _is_dataset_dir(p) and
                                                     (split is not None or is_dataset_repo(p))):
            out.append(Unit(src, kind="dataset", split=split))
        elif split is not None and p.is_file() and p.suffix == ".parquet":
            out.append(Unit(src, kind="dataset", split=split))
        else:
            out.extend(input_files([src]))
    return out


def input_files(sources: list[str]) -> list[Path]:
    """Expand folders (recursively, sorted) into the files and saved datasets we can read."""
    out: list[Path] = []
    for src in sources:
        p = Path(src)
        if not p.exists():
            raise InputError(f"{src}: no such file or folder (nor a dataset id of the form OWNER/NAME)")
        if p.is_file() or _is_dataset_dir(p):
            out.append(p)
            continue
        for dirpath, dirnames, filenames in os.walk(p):
            d = Path(dirpath)
            dirnames.sort()
            if _is_dataset_dir(d):
                out.append(d)
                dirnames.clear()
                continue
            for name in sorted(filenames):
                f = d / name
                inner = name[:-3] if name.endswith(".gz") else name
                if inner.endswith(TEXT_SUFFIXES + DATA_SUFFIXES) and not name.endswith(".rejects.jsonl"):
                    out.append(f)
    return out


def plan_units(files: list[Path | Unit], target_bytes: int) -> list[Unit]:
    """Cut large plain JSONL files into newline-aligned byte ranges so several workers can share one file."""
    units: list[Unit] = []
    for f in files:
        if isinstance(f, Unit):
            units.append(f)
            continue
        size = f.stat().st_size if f.is_file() else 0
        if not (f.is_file() and f.suffix in (".jsonl", ".ndjson") and size > 2 * target_bytes):
            units.append(Unit(str(f)))
            continue
        with open(f, "rb") as fh:
            start, line = 0, 0
            while start < size:
                fh.seek(start)
                chunk = fh.read(target_bytes)
                rest = fh.readline()  # finish the line the chunk stopped in
                end = start + len(chunk) + len(rest)
                units.append(Unit(str(f), start, end, line))
                line += chunk.count(b"\n") + rest.count(b"\n")
                start = end
    return units


def map_units(fn: Callable, jobs: list, workers: int, on_result: Callable | None = None) -> list:
    """fn over jobs, in order, in `workers` forked processes when there is more than one job; `on_result(r)` is
    called as each result arrives (progress)."""
    if workers > 1 and len(jobs) > 1:
        with get_context("fork").Pool(min(workers, len(jobs))) as pool:
            results = pool.imap(fn, jobs)
            return [_seen(r, on_result) for r in results]
    return [_seen(fn(job), on_result) for job in jobs]


def _seen(result, on_result):
    if on_result:
        on_result(result)
    return result


def _decode(data: bytes, file: str, index: int, field: str = "(bytes)") -> tuple[str | None, RawRecord | None]:
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, RawRecord(file, index, error=f"bytes at offset {exc.start} are not UTF-8; re-encode the file "
                                                   "as UTF-8", field=field)


def _jsonl_lines(data: bytes, file: str, first_line: int) -> Iterator[RawRecord]:
    for n, raw in enumerate(data.split(b"\n")):
        if not raw.strip():
            continue
        idx = first_line + n
        text, err = _decode(raw, file, idx)
        if err:
            yield err
            continue
        try:
            yield RawRecord(file, idx, json.loads(text))
        except json.JSONDecodeError as exc:
            yield RawRecord(file, idx, error=f"line {idx + 1} is not valid JSON ({exc.msg} at char {exc.pos}); "
                                             "the file may be truncated", field="(json)")
        except RecursionError:
            yield RawRecord(file, idx, error="JSON nested too deeply", field="(json)")


def _jsonl_stream(path: Path, unit: Unit) -> Iterator[RawRecord]:
    """A plain JSONL unit line by line, so memory stays at one record whatever the file size."""
    with open(path, "rb") as fh:
        fh.seek(unit.start)
        pos = unit.start
        for n, raw in enumerate(fh):
            if unit.end >= 0 and pos >= unit.end:
                break
            pos += len(raw)
            yield from _jsonl_lines(raw.rstrip(b"\n"), unit.path, unit.first_line + n)


def _one_record_list(value: list) -> bool:
    """A JSON list is one trajectory (messages or events) rather than a list of rows."""
    first = [v for v in value[:4] if isinstance(v, dict)]
    if not first or len(first) < min(len(value), 4):
        return False
    return all("role" in v for v in first) or all(("action" in v or "observation" in v) and
                                                    ("source" in v or "id" in v) for v in first)


def _json_records(text: str, file: str) -> Iterator[RawRecord]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # JSON Lines in a .json file
            yield from _jsonl_lines(text.encode("utf-8"), file, 0)
            return
        yield RawRecord(file, 0, error=f"not valid JSON ({exc.msg} at char {exc.pos} of {len(text)}); "
                                       "the file may be truncated", field="(json)")
        return
    except RecursionError:
        yield RawRecord(file, 0, error="JSON nested too deeply", field="(json)")
        return
    if isinstance(value, list) and not _one_record_list(value):
        for i, v in enumerate(value):
            yield RawRecord(file, i, v)
    else:
        yield RawRecord(file, 0, value)


def _dataset_records(path: Path) -> Iterator[RawRecord]:
    import datasets  # imported here: it is slow to import and only needed for dataset inputs

    if path.suffix == ".parquet":  # streamed: no Arrow copy in the cache, one row in memory at a time
        yield from _loaded_records(Unit(str(path), kind="dataset"))
        return
    try:
        if path.is_dir():
            ds = datasets.load_from_disk(str(path))
        else:
            ds = datasets.Dataset.from_file(str(path))
    except Exception as exc:  # datasets raises many kinds; all mean "this input cannot be read"
        raise InputError(f"{path}: cannot read as a dataset ({type(exc).__name__}: {exc})") from None
    parts = ds.items() if isinstance(ds, datasets.DatasetDict) else [("", ds)]
    for split, d in parts:
        name = f"{path}[{split}]" if split else str(path)
        for i, row in enumerate(d):
            yield RawRecord(name, i, row)


def _loaded_records(unit: Unit) -> Iterator[RawRecord]:
    from srl_agent.trajectory.hub import dataset_rows

    for name, i, row in dataset_rows(unit.path, unit.split):
        yield RawRecord(name, i, row)


def read_unit(unit: Unit) -> Iterator[RawRecord]:
    """Every raw record of one unit, in order. Raises InputError only when the input cannot be opened."""
    if unit.kind == "dataset":
        yield from _loaded_records(unit)
        return
    path = Path(unit.path)
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    if path.is_dir() or name.endswith(DATA_SUFFIXES):
        yield from _dataset_records(path)
        return
    try:
        if path.name.endswith(".gz"):
            try:
                with gzip.open(path, "rb") as fh:
                    data = fh.read()
            except (EOFError, gzip.BadGzipFile, OSError) as exc:
                yield RawRecord(unit.path, 0, error=f"gzip data is damaged or truncated ({exc})", field="(gzip)")
                return
        elif name.endswith((".jsonl", ".ndjson")):
            yield from _jsonl_stream(path, unit)
            return
        else:
            with open(path, "rb") as fh:
                data = fh.read()
    except OSError as exc:
        raise InputError(f"{unit.path}: cannot read ({exc.strerror or exc})") from None
    if name.endswith((".jsonl", ".ndjson")):
        yield from _jsonl_lines(data, unit.path, unit.first_line)
        return
    text, err = _decode(data, unit.path, 0)
    if err:
        yield err
        return
    yield from _json_records(text, unit.path)
