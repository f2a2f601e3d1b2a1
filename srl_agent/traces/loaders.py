"""What `srl traces view` opens: an eval run, a trace.json, `srl eval-steps` outputs, canonical trajectories,
raw expert files in any importable format (through the trajectory importer), or SWE-bench predictions.

Everything comes back as one `View`: the kind of page, the traces or step results, the run's totals, and
notes saying what was rejected or left out, so the page never shows more certainty than the data has.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from srl_agent.errors import InputError, SRLError
from srl_agent.prompts import PromptConfig
from srl_agent.traces.schema import READABLE_SCHEMAS, Trace
from srl_agent.traces.step_results import (EXAMPLES_FILE, STEPS_SUMMARY_SCHEMA, StepResult, is_step_results_file,
                                           read_step_results, summary_for)

PARALLEL_IMPORT_BYTES = 64 * 1024 * 1024  # smaller inputs import in this process (no fork)
MAX_REJECT_NOTES = 5


@dataclass
class View:
    """One page's content. kind: eval | expert | predictions | steps."""

    kind: str
    title: str
    traces: list[Trace] = field(default_factory=list)
    results: list[StepResult] = field(default_factory=list)
    summary: dict | None = None
    notes: list[str] = field(default_factory=list)

    def limit(self, n: int | None) -> "View":
        """Keep the first n traces or results, saying so in the notes (0 or None: keep all)."""
        items = self.results if self.kind == "steps" else self.traces
        if n and len(items) > n:
            self.notes.append(f"showing the first {n} of {len(items)} (pass --limit 0 to show all); "
                              "the counts on this page are over the shown ones")
            del items[n:]
        return self


def load_view(path: str | Path, *, fmt: str | None = None, prompt: PromptConfig | None = None) -> View:
    """The page content for `path` (see the module docstring). Raises InputError for what it cannot open."""
    path = Path(path)
    if path.is_dir():
        if (path / EXAMPLES_FILE).is_file():
            return steps_view(path / EXAMPLES_FILE)
        if next(path.rglob("trace.json"), None) is not None:
            return run_view(path)
        return expert_view(path, fmt=fmt, prompt=prompt)
    if not path.is_file():
        raise InputError(f"{path}: no such file or directory (give an `srl eval` run directory, a trace.json, "
                         "`srl eval-steps -o` output, or expert trajectories in any importable format)")
    if path.suffix == ".json" and fmt is None:
        data = _small_json(path)
        if isinstance(data, dict) and data.get("schema") in READABLE_SCHEMAS:
            return View("eval", f"trace: {data.get('instance_id', path.name)}", [Trace.from_dict(data)])
        if isinstance(data, dict) and data.get("schema") == STEPS_SUMMARY_SCHEMA:
            examples = path.with_name(str(data.get("examples_file") or path.stem + ".examples.jsonl"))
            if not examples.is_file():
                raise InputError(f"{path}: totals of `srl eval-steps` without per-example results ({examples.name} "
                                 "is missing); rerun eval-steps with -o to write them")
            return steps_view(examples)
    if is_step_results_file(path):
        return steps_view(path)
    return expert_view(path, fmt=fmt, prompt=prompt)


def _small_json(path: Path, limit: int = 256 * 1024 * 1024):
    """The parsed JSON of a .json file, or None when it is not one JSON document (the importer decides then)."""
    if path.stat().st_size > limit:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None


def run_view(run_dir: Path) -> View:
    from srl_agent.eval.evaluation import load_run

    traces, summary = load_run(run_dir)
    view = View("eval", f"srl eval run: {run_dir.name}", traces, summary=summary)
    _gold_from_run_config(run_dir, view)
    return view


def _gold_from_run_config(run_dir: Path, view: View) -> None:
    """Gold patches from the run's task suite (config.json `tasks`), when that suite can be loaded here."""
    try:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return
    spec = config.get("tasks") if isinstance(config, dict) else None
    if isinstance(spec, str) and spec:
        try:
            add_tasks(view, spec)
        except (SRLError, OSError) as exc:
            view.notes.append(f"gold patches not shown: the run's tasks {spec!r} cannot be loaded here ({exc})")


def add_tasks(view: View, spec: str) -> int:
    """Fill each trace's gold patch (and an empty problem statement) from the task suite `spec` (SUITE[:split]
    or a tasks file); returns how many traces matched a task."""
    from srl_agent.tasks.suite import load_suite, split_suite_spec

    suite, split = split_suite_spec(spec)
    tasks = {t.instance_id: t for t in load_suite(suite, split=split)}
    matched = 0
    for trace in view.traces:
        task = tasks.get(trace.instance_id)
        if task is None:
            continue
        matched += 1
        if trace.gold_patch is None and task.gold_patch:
            trace.gold_patch = task.gold_patch
        if not trace.problem_statement:
            trace.problem_statement = task.problem_statement
    return matched


def steps_view(examples: Path) -> View:
    results = list(read_step_results(examples))
    if not results:
        raise InputError(f"{examples}: no step results in the file")
    summary_path = summary_for(examples)
    summary = None
    if summary_path.is_file():
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            summary = None
    title = f"srl eval-steps: {examples.parent.name if examples.name == EXAMPLES_FILE else examples.name}"
    return View("steps", title, results=results, summary=summary)


def import_any(path: Path, fmt: str | None = None):
    """(trajectories, import summary, reject records) of any importable input, through `srl traj import`'s
    importer into a temporary file (the input is never written to)."""
    from srl_agent.trajectory import read_trajectories
    from srl_agent.trajectory.importer import default_workers, import_trajectories, rejects_path

    size = path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    workers = default_workers() if size > PARALLEL_IMPORT_BYTES else 1
    with tempfile.TemporaryDirectory(prefix="srl-view-") as tmp:
        out = Path(tmp) / "trajectories.jsonl"
        summary = import_trajectories([str(path)], out, fmt=fmt, workers=workers)
        trajectories = list(read_trajectories(out)) if summary.accepted else []
        rejects = []
        if summary.rejected and rejects_path(out).is_file():
            with open(rejects_path(out), encoding="utf-8") as fh:
                rejects = [json.loads(line) for line in fh if line.strip()]
    return trajectories, summary, rejects


def expert_view(path: Path, *, fmt: str | None = None, prompt: PromptConfig | None = None) -> View:
    from srl_agent.trajectory.to_trace import trace_from_trajectory

    trajectories, summary, rejects = import_any(path, fmt)
    if not trajectories:
        if rejects and all(r.get("field") == "model_patch" for r in rejects):
            return predictions_view(path)
        why = "; ".join(f"{_where(r)}: {r.get('reason')}" for r in rejects[:2]) or "the input holds no records"
        raise InputError(f"{path}: nothing to show: no record imports as a trajectory ({why}); pass --format NAME "
                         "if detection picked the wrong format")
    traces = [trace_from_trajectory(t, prompt) for t in trajectories]
    formats = ", ".join(f"{k} {v}" for k, v in summary.formats.most_common())
    view = View("expert", f"expert trajectories: {path.name}", traces,
                notes=[f"imported {summary.line()} · formats: {formats}"] if summary.rejected else [])
    view.notes += reject_notes(rejects)
    return view


def reject_notes(rejects: list[dict]) -> list[str]:
    """One line per (file, field, reason) of the rejected records, with the first few record indexes."""
    groups: dict[tuple, list] = {}
    for r in rejects:
        key = (os.path.basename(str(r.get("file", ""))), r.get("field"), r.get("reason"))
        groups.setdefault(key, []).append(r.get("index"))
    notes = []
    for (file, fld, reason), indexes in list(groups.items())[:MAX_REJECT_NOTES]:
        shown = ", ".join(f"#{i}" for i in indexes[:5]) + (", ..." if len(indexes) > 5 else "")
        notes.append(f"rejected {len(indexes)} record{'s' if len(indexes) != 1 else ''} of {file} ({shown}) "
                     f"[{fld}]: {reason}")
    if len(groups) > MAX_REJECT_NOTES:
        notes.append(f"... and {len(groups) - MAX_REJECT_NOTES} more kinds of rejected records")
    return notes


def _where(reject: dict) -> str:
    return f"{os.path.basename(str(reject.get('file', '')))}#{reject.get('index')}"


def predictions_view(path: Path) -> View:
    """SWE-bench predictions (instance_id, model_name_or_path, model_patch) as patch-only traces."""
    from srl_agent.trajectory.formats import is_prediction
    from srl_agent.trajectory.readers import input_files, plan_units, read_unit

    traces = []
    for unit in plan_units(input_files([str(path)]), 1 << 62):
        for raw in read_unit(unit):
            if raw.error is None and is_prediction(raw.value):
                rec = raw.value
                traces.append(Trace(instance_id=str(rec.get("instance_id", f"record {raw.index}")),
                                    stop_reason="prediction", patch=str(rec.get("model_patch") or ""),
                                    model=str(rec.get("model_name_or_path") or ""),
                                    meta={"source": {"format": "swe-bench-predictions", "file": raw.file,
                                                     "index": raw.index}}))
    note = ("SWE-bench predictions: patches without steps, not graded here (grade them with `srl grade`; "
            "--tasks SUITE adds the gold patches)")
    return View("predictions", f"predictions: {path.name}", traces, notes=[note])


def expert_actions_any(path: str | Path, fmt: str | None = None) -> dict[str, list[str]]:
    """instance_id -> the expert's canonical actions, from expert trajectories in any importable format."""
    from srl_agent.trajectory.to_trace import expert_actions

    path = Path(path)
    if not path.exists():
        raise InputError(f"--expert {path}: no such file or directory")
    trajectories, _, _ = import_any(path, fmt)
    if not trajectories:
        raise InputError(f"--expert {path}: no record imports as a trajectory")
    return expert_actions(trajectories)
