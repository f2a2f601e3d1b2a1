"""Running an edit-style evaluation over tasks: one step function per mode, a resumable run directory, grading
in a fresh container, a summary with a Wilson interval and swebench predictions.

Run directory: `config.json`; `<instance_id>/result.json` (prompt, completion, the parsed edits' files, the
patch, the grade; written last, so a task with one is done, except after an infrastructure error, which is
retried); `summary.json`; `predictions.jsonl` (instance_id, model_name_or_path, model_patch).
A completion that is not well-formed SWE-RL output, or whose edits do not apply, is a format error: its patch is
empty and it is not graded (it cannot resolve anything).
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from srl_agent.errors import ConfigError, DockerUnavailableError, InputError, SRLError
from srl_agent.policy.base import Policy, start_episode
from srl_agent.task import Task

RESULT_SCHEMA = "srl-edit-result/1"
SUMMARY_SCHEMA = "srl-edit-summary/1"
CONFIG_SCHEMA = "srl-edit-config/1"
STATUSES = ("graded", "format_error", "localization_error", "context_limit", "error")


@dataclass
class EditResult:
    """One task's outcome in an edit-style mode. `status` is graded, format_error (edit step),
    localization_error (agentless: no listed file named), context_limit (prompt over the model's window) or
    error (infrastructure: retried on the next run)."""
    instance_id: str
    mode: str
    status: str = "graded"
    files: list[str] = field(default_factory=list)  # the files whose contents the edit prompt showed
    prompt: list[dict] = field(default_factory=list)
    completion: str = ""
    error: str | None = None
    patch: str = ""
    localization: dict | None = None  # agentless: its prompt, completion and the files it picked
    grade: dict | None = None
    seconds: float = 0.0

    @property
    def resolved(self) -> bool:
        return bool(self.grade and self.grade.get("resolved"))

    def to_dict(self) -> dict:
        return {"schema": RESULT_SCHEMA, **asdict(self), "resolved": self.resolved}


def _set_grade(result: EditResult, report) -> None:
    result.grade = report.to_dict()
    if report.status == "ERROR":
        result.status, result.error = "error", report.infra_error


# A mode's step: (task, its policy for this episode, a sandbox at the start state) -> result with a patch.
Step = Callable[[Task, Policy, object], EditResult]


def result_path(run_dir: Path, instance_id: str) -> Path:
    return run_dir / instance_id.replace("/", "__") / "result.json"


def _done(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("status") != "error"
    except (OSError, json.JSONDecodeError):
        return False


def _check_config(run_dir: Path, record: dict) -> None:
    path = run_dir / "config.json"
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        for key in ("mode", "model", "policy", "tasks"):
            if key in record and old.get(key) != record[key]:
                raise ConfigError(f"{run_dir} holds a run with {key}={old.get(key)!r}, not {record[key]!r}: pick "
                                  "another -o directory, or delete it to start over")
        return
    _write(path, {"schema": CONFIG_SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **record})


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def run_task(task: Task, policy: Policy, step: Step, *, sandbox_factory: Callable,
             grader: Callable | None) -> EditResult:
    """The mode's step in a start-state sandbox (closed before grading), then the patch graded on its own
    (grader None: left for a batch grader)."""
    t0 = time.perf_counter()
    try:
        with sandbox_factory(task) as sb:
            result = step(task, start_episode(policy, task), sb)
    except (DockerUnavailableError, KeyboardInterrupt):
        raise
    except SRLError as exc:
        result = EditResult(task.instance_id, "?", status="error", error=f"{type(exc).__name__}: {exc}")
    if grader is not None and result.status == "graded" and result.patch.strip():
        _set_grade(result, grader(task, result.patch))
    result.seconds = time.perf_counter() - t0
    return result


def evaluate_edits(tasks: Sequence[Task], policy: Policy, run_dir: str | Path, step: Step, *, mode: str,
                   workers: int = 1, sandbox_factory: Callable | None = None, grader: Callable | None = None,
                   batch_grader: Callable | None = None, record: dict | None = None, progress: bool = True) -> dict:
    """Every task not yet done: step, grade, write result.json; then summary.json and predictions.jsonl.

    `grader(task, patch)` grades each patch as it comes (default: srl_agent.grading.grade_patch, a fresh
    container); `batch_grader(tasks, {instance_id: patch})` -> {instance_id: GradeReport} instead grades all
    the run's ungraded patches at the end (how swebench's harness judges)."""
    if workers < 1:
        raise ConfigError("--workers must be >= 1")
    if len({t.instance_id for t in tasks}) != len(tasks):
        raise InputError("the task list has duplicate instance_ids")
    run_dir = Path(run_dir)
    _check_config(run_dir, {"mode": mode, **(record or {})})
    if sandbox_factory is None:
        from srl_agent.tasks import task_sandbox as sandbox_factory
    if grader is None and batch_grader is None:
        from srl_agent.grading import grade_patch as grader
    todo = [t for t in tasks if not _done(result_path(run_dir, t.instance_id))]
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc=mode, unit="task", disable=not progress, dynamic_ncols=True)
    lock, resolved = threading.Lock(), [0]

    def one(task: Task) -> None:
        result = run_task(task, policy, step, sandbox_factory=sandbox_factory, grader=grader)
        result.mode = mode
        _write(result_path(run_dir, task.instance_id), result.to_dict())
        with lock:
            resolved[0] += result.resolved
            bar.update(1)
            bar.set_postfix(resolved=resolved[0])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for fut in as_completed([pool.submit(one, t) for t in todo]):
            fut.result()
    bar.close()
    if batch_grader is not None:
        _grade_pending(run_dir, tasks, batch_grader)
    model = (record or {}).get("model", getattr(policy, "name", ""))
    summary = summarize(run_dir, [t.instance_id for t in tasks], mode=mode, model=model)
    _write(run_dir / "summary.json", summary)
    write_predictions(run_dir, [t.instance_id for t in tasks], model)
    return summary


def _grade_pending(run_dir: Path, tasks: Sequence[Task], batch_grader: Callable) -> None:
    """Grade every result of the run that has a patch and no grade yet, in one batch."""
    pending = {r["instance_id"]: r for r in read_results(run_dir, [t.instance_id for t in tasks])
               if r["status"] == "graded" and r["grade"] is None and r["patch"].strip()}
    if not pending:
        return
    reports = batch_grader([t for t in tasks if t.instance_id in pending],
                           {i: r["patch"] for i, r in pending.items()})
    for iid, raw in pending.items():
        raw.pop("schema"), raw.pop("resolved")
        result = EditResult(**raw)
        _set_grade(result, reports[iid])
        _write(result_path(run_dir, iid), result.to_dict())


def read_results(run_dir: Path, ids: Sequence[str]) -> list[dict]:
    out = []
    for iid in ids:
        path = result_path(run_dir, iid)
        if path.is_file():
            out.append(json.loads(path.read_text(encoding="utf-8")))
    return out


def summarize(run_dir: Path, ids: Sequence[str], *, mode: str, model: str) -> dict:
    """Resolved rate over the tasks that ran (infrastructure errors excluded and counted), 95% Wilson interval."""
    from srl_agent.eval.evaluation import wilson_interval

    results = read_results(run_dir, ids)
    counted = [r for r in results if r["status"] != "error"]
    n, res = len(counted), sum(bool(r["resolved"]) for r in counted)
    statuses = {s: sum(r["status"] == s for r in results) for s in STATUSES}
    return {"schema": SUMMARY_SCHEMA, "mode": mode, "model": model, "tasks": len(ids), "episodes": n,
            "resolved": res, "resolved_rate": res / n if n else 0.0, "ci95": list(wilson_interval(res, n)),
            "format_error_rate": statuses["format_error"] / n if n else 0.0, "statuses": statuses,
            "not_run": len(ids) - n, "resolved_ids": sorted(r["instance_id"] for r in counted if r["resolved"]),
            "mean_seconds": sum(r["seconds"] for r in results) / len(results) if results else 0.0}


def write_predictions(run_dir: Path, ids: Sequence[str], model: str) -> Path:
    """predictions.jsonl in swebench's format (an empty model_patch for format errors)."""
    path = run_dir / "predictions.jsonl"
    lines = [json.dumps({"instance_id": r["instance_id"], "model_name_or_path": model or "model",
                         "model_patch": r["patch"]}, ensure_ascii=False)
             for r in read_results(run_dir, ids) if r["status"] != "error"]
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path
