"""`srl traj import`: raw records -> canonical trajectories, bad records -> `<output>.rejects.jsonl`, on N workers.

Each worker converts whole units (a file, or a byte range of a big JSONL file) and writes its own part
files; the parent concatenates them in input order, so the output does not depend on the worker count.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from srl_agent.errors import InputError
from srl_agent.trajectory.formats import FORMATS, RecordError, detect_format, is_prediction
from srl_agent.trajectory.readers import RawRecord, Unit, input_files, map_units, plan_units, read_unit
from srl_agent.trajectory.schema import Source

UNIT_BYTES = 16 * 1024 * 1024


@dataclass
class ImportSummary:
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    steps: int = 0
    formats: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    output: str = ""
    rejects: str = ""

    def add(self, other: "ImportSummary") -> None:
        self.read += other.read
        self.accepted += other.accepted
        self.rejected += other.rejected
        self.steps += other.steps
        self.formats.update(other.formats)
        self.reasons.update(other.reasons)

    def line(self) -> str:
        return f"accepted {self.accepted} / rejected {self.rejected} / total {self.read} records ({self.steps} steps)"


def rejects_path(output: str | Path) -> Path:
    return Path(str(output) + ".rejects.jsonl")


def convert(raw: RawRecord, fmt_name: str | None) -> tuple[str | None, dict | None, int, str]:
    """(trajectory JSON line, reject dict, steps, format) for one raw record; never raises on bad data."""
    def reject(fld: str, reason: str, fmt: str = "") -> tuple[None, dict, int, str]:
        return None, {"file": raw.file, "index": raw.index, "field": fld, "reason": reason, "format": fmt}, 0, fmt

    if raw.error is not None:
        return reject(raw.field, raw.error)
    name = fmt_name or detect_format(raw.value)
    if name is None:
        if is_prediction(raw.value):
            return reject("model_patch", "a SWE-bench prediction (instance_id + model_patch), not a trajectory: "
                                         "grade it with `srl grade`")
        kind = type(raw.value).__name__
        if isinstance(raw.value, dict):
            # A record that has a key a format needs, but not of the needed shape: name that field.
            for key in ("messages", "trajectory", "history"):
                if key in raw.value:
                    got = type(raw.value[key]).__name__
                    return reject(key, f"expected a list of messages or steps (or a JSON string of one), got {got}")
        return reject("(record)", f"no known trajectory format matches this {kind} record; pass --format NAME "
                                  f"(one of {', '.join(FORMATS)})")
    try:
        traj = FORMATS[name].parse(raw.value, Source(name, raw.file, raw.index))
    except RecordError as exc:
        return reject(exc.field, exc.reason, name)
    except InputError as exc:
        return reject("(record)", str(exc), name)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError, RecursionError) as exc:
        # An importer met a shape it does not expect: reject the record, never crash the whole import.
        return reject("(record)", f"unexpected structure ({type(exc).__name__}: {exc})", name)
    return traj.to_json(), None, len(traj.steps), name


def import_unit(args: tuple[Unit, str | None, str]) -> tuple[ImportSummary, str, str]:
    """Convert one unit into part files in `part_dir`; returns (summary, output part, rejects part)."""
    unit, fmt_name, part_dir = args
    fd, out_part = tempfile.mkstemp(dir=part_dir, suffix=".jsonl")
    os.close(fd)
    rej_part = out_part + ".rej"
    s = ImportSummary()
    with open(out_part, "w", encoding="utf-8") as out, open(rej_part, "w", encoding="utf-8") as rej:
        for raw in read_unit(unit):
            s.read += 1
            line, bad, steps, name = convert(raw, fmt_name)
            if line is not None:
                out.write(line + "\n")
                s.accepted += 1
                s.steps += steps
                s.formats[name] += 1
            else:
                rej.write(json.dumps(bad, ensure_ascii=False) + "\n")
                s.rejected += 1
                s.reasons[bad["field"]] += 1
    return s, out_part, rej_part


def default_workers() -> int:
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 8))


def import_trajectories(sources: Iterable[str], output: str | Path, *, fmt: str | None = None,
                        workers: int | None = None, progress: Callable[[int], None] | None = None) -> ImportSummary:
    """Import every record of `sources` into `output` (JSONL) and its rejects file; returns the counts."""
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    files = input_files(list(sources))
    if not files:
        raise InputError("no input files found (expected .json, .jsonl, .traj, .parquet, .arrow, .gz or a "
                         "saved dataset folder)")
    workers = workers or default_workers()
    units = plan_units(files, UNIT_BYTES if workers > 1 else 1 << 62)
    summary = ImportSummary(output=str(output), rejects=str(rejects_path(output)))
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".import-") as part_dir:
        jobs = [(u, fmt, part_dir) for u in units]
        results = map_units(import_unit, jobs, workers, progress and (lambda r: progress(r[0].read)))
        with open(output, "wb") as out, open(summary.rejects, "wb") as rej:
            for s, out_part, rej_part in results:
                summary.add(s)
                for part, dest in ((out_part, out), (rej_part, rej)):
                    with open(part, "rb") as fh:
                        shutil.copyfileobj(fh, dest, 1 << 22)
    if summary.rejected == 0:
        Path(summary.rejects).unlink(missing_ok=True)
    return summary


def _tracked(results, progress):
    for r in results:
        if progress:
            progress(r[0].read)
        yield r
