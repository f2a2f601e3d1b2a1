"""Loading tasks from published rows: files (.json / .jsonl / .parquet), swebench task repos, saved datasets,
Hugging Face ids, or a bundled suite (the row -> Task conversion itself is srl_agent/task_rows.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from srl_agent.errors import InputError


def read_rows(source: str | Path) -> list[dict]:
    """Rows from a JSON / JSONL file, a swebench 5.x task repo (a folder with tasks/<id>/task.yaml), a Hugging
    Face dataset saved to disk, or a Hugging Face dataset id (`NAME` or `NAME:split`, default split test)."""
    p = Path(source)
    if p.is_file():
        if p.suffix == ".parquet":
            return _hf_rows("parquet", data_files=str(p), split="train")
        from srl_agent.jsonio import read_json_or_jsonl

        data = read_json_or_jsonl(p)
        rows = list(data.values()) if isinstance(data, dict) and "instance_id" not in data else (
            [data] if isinstance(data, dict) else data)
        if not all(isinstance(r, dict) for r in rows):
            raise InputError(f"{p}: expected task rows (JSON objects), one per line or in a list")
        return rows
    if p.is_dir():
        if (p / "tasks").is_dir():
            from swebench.task.repo import load_task_repo

            return load_task_repo(p)
        from datasets import load_from_disk

        return [dict(r) for r in load_from_disk(str(p))]
    if re.match(r"^[\w.-]+/[\w.-]+(:[\w.-]+)?$", str(source)):
        name, _, split = str(source).partition(":")
        return _hf_rows(name, split=split or "test")
    from srl_agent.tasks.suite import suites_root

    known = sorted(d.name for d in suites_root().glob("*") if d.is_dir()) if suites_root().is_dir() else []
    raise InputError(f"no task suite or task rows {str(source)!r}: give a suite name ({', '.join(known) or 'none found'}), "
                     "a folder with suite.yaml, a rows file (.json / .jsonl / .parquet), a swebench task repo, a saved "
                     "dataset folder or a Hugging Face id (NAME or NAME:split)")


def _hf_rows(name: str, **kw) -> list[dict]:
    from datasets import load_dataset

    try:
        return [dict(r) for r in load_dataset(name, **kw)]
    except Exception as exc:  # datasets raises many types for "not reachable" / "no such dataset"
        raise InputError(f"could not load {name!r} ({type(exc).__name__}: {str(exc)[:200]}); offline, save it "
                         "where a hub is reachable (datasets.load_dataset(...).to_json('rows.jsonl')) and "
                         "give the file") from None


def load_tasks(source: str | Path, *, dataset: str | None = None, split: str | None = None,
               rejected: list[str] | None = None):
    """Tasks from a bundled suite (name or folder) or from published rows (see read_rows). A row that does not
    load is skipped with a one-line reason appended to `rejected`; no task at all is an error."""
    from srl_agent.task import Task
    from srl_agent.tasks.suite import TASKS_FILE, load_suite, suites_root

    p = Path(source)
    if (p.is_dir() and (p / TASKS_FILE).is_file()) or (not p.exists() and (suites_root() / str(source)).is_dir()):
        return load_suite(source, split=split)
    tasks, bad = [], []
    for i, row in enumerate(read_rows(source)):
        try:
            tasks.append(Task.from_row(row, dataset))
        except InputError as exc:
            bad.append(f"{source} record #{i + 1} ({row.get('instance_id', '?')}): {exc}")
    if rejected is not None:
        rejected.extend(bad)
    if not tasks:
        raise InputError(f"{source}: no task loaded ({len(bad)} rejected{': ' + bad[0] if bad else ''})")
    if split is not None:
        tasks = [t for t in tasks if (t.split or "test") == split]
        if not tasks:
            raise InputError(f"{source}: no task in split {split!r}")
    return tasks
