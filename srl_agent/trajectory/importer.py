"""`srl traj import`: raw records -> canonical trajectories, bad records -> `<output>.rejects.jsonl`, on N workers.

Each worker converts whole units (a file, a byte range of a big JSONL file, or a dataset streamed through
`datasets.load_dataset`) and writes its own part files; the parent concatenates them in input order, so the
output does not depend on the worker count. Counts are kept per source format (`accounting.FormatCounts`).
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
from srl_agent.trajectory.accounting import ASSUMED, UNDETECTED, FormatCounts, merge
from srl_agent.trajectory.formats import FORMATS, RecordError, detect_format, is_prediction
from srl_agent.trajectory.readers import RawRecord, Unit, input_units, map_units, plan_units, read_unit
from srl_agent.trajectory.schema import Source, Trajectory

UNIT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ImportOptions:
    """`fmt` forces one importer; `assume_resolved` marks trajectories whose source has no resolved flag as resolved
    (for datasets that are resolved-only by construction, as SWE-smith's); `split` picks a dataset split."""

    fmt: str | None = None
    assume_resolved: bool = False
    split: str | None = None


@dataclass
class ImportSummary:
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    steps: int = 0
    formats: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    by_format: dict[str, FormatCounts] = field(default_factory=dict)
    output: str = ""
    rejects: str = ""

    def add(self, other: "ImportSummary") -> None:
        self.read += other.read
        self.accepted += other.accepted
        self.rejected += other.rejected
        self.steps += other.steps
        self.formats.update(other.formats)
        self.reasons.update(other.reasons)
        merge(self.by_format, other.by_format)

    def line(self) -> str:
        return f"accepted {self.accepted} / rejected {self.rejected} / total {self.read} records ({self.steps} steps)"


@dataclass
class Converted:
    """One record's outcome: the trajectory, or the reject line; `fmt` is the importer that took it."""

    fmt: str
    trajectory: Trajectory | None = None
    reject: dict | None = None


def rejects_path(output: str | Path) -> Path:
    return Path(str(output) + ".rejects.jsonl")


def _undetected(raw: RawRecord) -> tuple[str, str]:
    if is_prediction(raw.value):
        return "model_patch", ("a SWE-bench prediction (instance_id + model_patch), not a trajectory: grade it with "
                               "`srl grade`")
    if isinstance(raw.value, dict):
        # A record that has a key a format needs, but not of the needed shape: name that field and what it holds.
        for key in ("messages", "trajectory", "history", "conversations"):
            if key in raw.value:
                value = raw.value[key]
                first = value[0] if isinstance(value, list) and value else None
                inner = (f" of objects with keys {', '.join(sorted(first)[:8])}" if isinstance(first, dict)
                         else f" of {type(first).__name__}" if first is not None else "")
                return key, (f"a {type(value).__name__}{inner} that no importer recognises; pass --format NAME "
                             f"(one of {', '.join(FORMATS)})")
    return "(record)", (f"no known trajectory format matches this {type(raw.value).__name__} record; pass --format "
                        f"NAME (one of {', '.join(FORMATS)})")


def convert(raw: RawRecord, options: ImportOptions = ImportOptions()) -> Converted:
    """The trajectory or the reject for one raw record; never raises on bad data."""
    def reject(fld: str, reason: str, fmt: str) -> Converted:
        return Converted(fmt, reject={"file": raw.file, "index": raw.index, "field": fld, "reason": reason,
                                      "format": "" if fmt == UNDETECTED else fmt})

    if raw.error is not None:
        return reject(raw.field, raw.error, UNDETECTED)
    name = options.fmt or detect_format(raw.value)
    if name is None:
        return reject(*_undetected(raw), UNDETECTED)
    try:
        traj = FORMATS[name].parse(raw.value, Source(name, raw.file, raw.index))
    except RecordError as exc:
        return reject(exc.field, exc.reason, name)
    except InputError as exc:
        return reject("(record)", str(exc), name)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError, RecursionError) as exc:
        # An importer met a shape it does not expect: reject the record, never crash the whole import.
        return reject("(record)", f"unexpected structure ({type(exc).__name__}: {exc})", name)
    if traj.resolved is None and options.assume_resolved:
        traj.resolved = True
        traj.meta["resolved_from"] = ASSUMED
    return Converted(name, trajectory=traj)


def import_unit(args: tuple[Unit, ImportOptions, str]) -> tuple[ImportSummary, str, str]:
    """Convert one unit into part files in `part_dir`; returns (summary, output part, rejects part)."""
    unit, options, part_dir = args
    fd, out_part = tempfile.mkstemp(dir=part_dir, suffix=".jsonl")
    os.close(fd)
    rej_part = out_part + ".rej"
    s = ImportSummary()
    with open(out_part, "w", encoding="utf-8") as out, open(rej_part, "w", encoding="utf-8") as rej:
        for raw in read_unit(unit):
            s.read += 1
            c = convert(raw, options)
            counts = s.by_format.setdefault(c.fmt, FormatCounts())
            if c.trajectory is not None:
                out.write(c.trajectory.to_json() + "\n")
                s.accepted += 1
                s.steps += len(c.trajectory.steps)
                s.formats[c.fmt] += 1
                counts.accept(c.trajectory)
            else:
                rej.write(json.dumps(c.reject, ensure_ascii=False) + "\n")
                s.rejected += 1
                s.reasons[c.reject["field"]] += 1
                counts.reject(c.reject["field"], c.reject["reason"])
    return s, out_part, rej_part


def default_workers() -> int:
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 8))


def import_trajectories(sources: Iterable[str], output: str | Path, *, fmt: str | None = None,
                        workers: int | None = None, progress: Callable[[int], None] | None = None,
                        assume_resolved: bool = False, split: str | None = None) -> ImportSummary:
    """Import every record of `sources` (paths, folders, dataset ids) into `output` (JSONL) and its rejects file."""
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    options = ImportOptions(fmt=fmt, assume_resolved=assume_resolved, split=split)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    files = input_units(list(sources), split)
    if not files:
        raise InputError(f"{', '.join(map(str, sources))}: no trajectory files there (expected .json, .jsonl, .traj, "
                         ".parquet, .arrow, .gz, a saved dataset folder or a dataset id)")
    workers = workers or default_workers()
    units = plan_units(files, UNIT_BYTES if workers > 1 else 1 << 62)
    summary = ImportSummary(output=str(output), rejects=str(rejects_path(output)))
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".import-") as part_dir:
        jobs = [(u, options, part_dir) for u in units]
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
