"""Grading a file of predictions: one fresh-container grade per instance, in parallel, resumable (a grade on disk
is kept unless it is ERROR), Ctrl-C keeping the partial report; the report has SWE-bench's run-report shape.
`srl grade` (srl_agent/cli/grade.py) parses the arguments and calls grade_predictions / grade_with_swebench."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from srl_agent.errors import InputError
from srl_agent.grading import GradeReport, grade_patch
from srl_agent.jsonio import read_json_or_jsonl
from srl_agent.runner import StopRequest, atomic_write, done_unless_error, run_units
from srl_agent.task import Task

REPORT_SCHEMA_VERSION = 2  # the schema_version of SWE-bench's run report that ours follows


@dataclass(frozen=True)
class Prediction:
    instance_id: str
    model_name_or_path: str
    model_patch: str | None


def read_predictions(path: Path) -> list[Prediction]:
    """SWE-bench predictions: a JSON list, a JSON object keyed by instance id, or JSONL."""
    if not path.is_file():
        raise InputError(f"{path}: {'is a folder; give' if path.is_dir() else 'no such'} predictions file")
    data = read_json_or_jsonl(path)
    rows = list(data.values()) if isinstance(data, dict) and "instance_id" not in data else (
        [data] if isinstance(data, dict) else data)
    preds, seen = [], set()
    for i, r in enumerate(rows):
        if not isinstance(r, dict) or not isinstance(r.get("instance_id"), str):
            raise InputError(f"{path}: prediction #{i + 1} has no string 'instance_id'")
        patch = r.get("model_patch")
        if patch is not None and not isinstance(patch, str):
            raise InputError(f"{path}: prediction {r['instance_id']}: 'model_patch' must be a string or null")
        if r["instance_id"] in seen:
            raise InputError(f"{path}: instance {r['instance_id']} is predicted twice")
        seen.add(r["instance_id"])
        preds.append(Prediction(r["instance_id"], str(r.get("model_name_or_path") or "model"), patch))
    return preds


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "__", name)


def instance_dir(run_dir: Path, pred: Prediction) -> Path:
    """SWE-bench's layout: <run_dir>/<model>/<instance_id>/{report.json, test_output.txt, patch.diff}."""
    return run_dir / _safe(pred.model_name_or_path) / _safe(pred.instance_id)


def load_done(run_dir: Path, pred: Prediction) -> GradeReport | None:
    """A finished grade from an earlier run; infrastructure errors are retried, so they do not count."""
    f = instance_dir(run_dir, pred) / "report.json"
    if not f.is_file():
        return None
    try:
        rep = GradeReport.from_dict(json.loads(f.read_text()))
    except (json.JSONDecodeError, TypeError):
        return None
    return rep if done_unless_error(rep.status) else None


def save(run_dir: Path, pred: Prediction, rep: GradeReport) -> None:
    d = instance_dir(run_dir, pred)
    d.mkdir(parents=True, exist_ok=True)
    (d / "patch.diff").write_text(pred.model_patch or "")
    (d / "test_output.txt").write_text(rep.test_output)
    atomic_write(d / "report.json", json.dumps(rep.to_dict(), indent=2))


def run_report(tasks: list[Task], preds: list[Prediction], reports: dict[str, GradeReport]) -> dict:
    """The run report, with SWE-bench's keys (plus our per-instance statuses)."""
    submitted = {p.instance_id for p in preds}
    empty = {p.instance_id for p in preds if not (p.model_patch or "").strip()}
    errors = {i for i, r in reports.items() if r.status == "ERROR"}
    completed = set(reports) - errors
    resolved = {i for i, r in reports.items() if r.resolved}
    return {
        "total_instances": len(tasks), "submitted_instances": len(submitted),
        "completed_instances": len(completed), "resolved_instances": len(resolved),
        "unresolved_instances": len(completed - resolved - empty), "infra_failure_instances": len(errors),
        "empty_patch_instances": len(empty), "error_instances": len(errors),
        "completed_ids": sorted(completed), "incomplete_ids": sorted(submitted - set(reports)),
        "empty_patch_ids": sorted(empty), "submitted_ids": sorted(submitted), "resolved_ids": sorted(resolved),
        "unresolved_ids": sorted(completed - resolved - empty), "error_ids": sorted(errors),
        "infra_failure_ids": sorted(errors),
        "failure_reasons": {i: reports[i].infra_error for i in sorted(errors)},
        "patch_not_applied_ids": sorted(i for i, r in reports.items() if r.patch_exists and not r.patch_applied
                                        and r.status != "ERROR"),
        "statuses": {i: reports[i].status for i in sorted(reports)},
        "resolved_rate": len(resolved) / len(submitted) if submitted else 0.0,
        "schema_version": REPORT_SCHEMA_VERSION,
    }


def grade_predictions(preds: list[Prediction], tasks: list[Task], run_dir: Path, *, workers: int = 1,
                      timeout: float = 900.0, progress: bool = True,
                      stop: StopRequest | None = None) -> dict[str, GradeReport]:
    """Grade every prediction (skipping those already graded in run_dir) with `workers` containers at once.

    Once `stop` is set no new grade starts (running ones finish: one test run, bounded by `timeout`); the reports
    returned are then those finished so far."""
    from srl_agent.progress import progress as progress_bar

    by_id = {t.instance_id: t for t in tasks}
    unknown = [p.instance_id for p in preds if p.instance_id not in by_id]
    if unknown:
        raise InputError(f"{len(unknown)} predictions name tasks not in the suite, e.g. {unknown[0]!r}; "
                         "check --tasks")
    reports: dict[str, GradeReport] = {}
    todo = []
    for p in preds:
        done = load_done(run_dir, p)
        if done is not None:
            reports[p.instance_id] = done
        else:
            todo.append(p)
    lock = threading.Lock()
    bar = progress_bar("grading", total=len(preds), initial=len(reports), unit="task", enabled=progress)

    def one(p: Prediction) -> None:
        rep = grade_patch(by_id[p.instance_id], p.model_patch, timeout=timeout)
        save(run_dir, p, rep)
        with lock:
            reports[p.instance_id] = rep
            bar.update(1)
            bar.set_postfix(resolved=sum(r.resolved for r in reports.values()))

    try:
        run_units(todo, one, workers=workers, stop=stop)
    finally:
        bar.close()
    return reports


def grade_with_swebench(preds: list[Prediction], tasks: list[Task], run_dir: Path, *, workers: int = 2,
                        timeout: float = 900.0, image_of=None) -> dict[str, GradeReport]:
    """Like grade_predictions, with swebench's own harness as the judge (srl_agent/tasks/swebench_judge.py);
    its logs stay under run_dir/swebench, and each grade is saved in our layout too."""
    from srl_agent.tasks.swebench_judge import run_swebench

    reports = {p.instance_id: r for p in preds if (r := load_done(run_dir, p)) is not None}
    todo = [p for p in preds if p.instance_id not in reports]
    if todo:
        graded = run_swebench(todo, tasks, run_dir / "swebench", workers=workers, timeout=timeout, image_of=image_of)
        for p in todo:
            save(run_dir, p, graded[p.instance_id])
            reports[p.instance_id] = graded[p.instance_id]
    return reports
