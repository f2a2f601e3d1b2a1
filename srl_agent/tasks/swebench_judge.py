"""swebench's own harness as the judge: the tasks exported as 5.x instances, the predictions as a predictions file,
swebench's `run_evaluation` CLI run on them offline (every container is swebench's), and its per-instance reports
read back as GradeReports, so `srl grade --judge swebench` writes the same run report as `srl grade`.

swebench skips empty patches (never run: not resolved) and writes no report when a patch does not apply (its
log says so: not resolved, patch not applied) or when the run fails (an infrastructure error, retried on the
next run like any other).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

from swebench.harness.constants import APPLY_PATCH_FAIL, LOG_INSTANCE, LOG_REPORT, LOG_TEST_OUTPUT
from swebench.harness.grading import get_resolution_status

from srl_agent.errors import InputError, SRLError
from srl_agent.grading import GradeReport, error_report
from srl_agent.task import Task
from srl_agent.tasks.swebench import export_instances

RUN_ID = "srl"
_STATUS = {"RESOLVED_FULL": "FULL", "RESOLVED_PARTIAL": "PARTIAL", "RESOLVED_NO": "NO"}


class SwebenchRunError(SRLError, RuntimeError):
    """swebench's harness itself failed (not one instance: the whole run)."""


def _safe_model(name: str) -> str:
    return name.replace("/", "__")  # what run_instance does with model_name_or_path


def instance_log_dir(work: Path, model: str, instance_id: str) -> Path:
    return work / "logs" / "run_evaluation" / RUN_ID / _safe_model(model) / instance_id


def to_grade(task: Task, patch: str | None, log_dir: Path) -> GradeReport:
    """A GradeReport from swebench's report.json (or its instance log when it wrote none)."""
    if not (patch or "").strip():
        return GradeReport(task.instance_id, "NO", patch_exists=False)
    report = log_dir / LOG_REPORT
    if report.is_file():
        entry = json.loads(report.read_text())[task.instance_id]
        tests = entry.get("tests_status") or {}
        if entry.get("infra_failure"):
            return error_report(task, f"swebench: {entry.get('infra_failure_reason') or 'infrastructure failure'}",
                                patch_exists=True)
        status = _STATUS[get_resolution_status(tests)] if tests else "NO"
        if entry["resolved"] != (status == "FULL"):
            raise SwebenchRunError(f"{report}: resolved={entry['resolved']} but its tests say {status}")
        out = log_dir / LOG_TEST_OUTPUT
        return GradeReport(task.instance_id, status, patch_exists=True,
                           patch_applied=bool(entry.get("patch_successfully_applied")), tests_status=tests,
                           test_output=out.read_text(errors="replace") if out.is_file() else "")
    log = (log_dir / LOG_INSTANCE).read_text(errors="replace") if (log_dir / LOG_INSTANCE).is_file() else ""
    if APPLY_PATCH_FAIL in log:
        return GradeReport(task.instance_id, "NO", patch_exists=True, patch_applied=False,
                           apply_error=log.split(APPLY_PATCH_FAIL, 1)[1][-2000:].strip())
    return error_report(task, f"swebench wrote no report for {task.instance_id}; its log ends: {log[-600:]!r}",
                        patch_exists=True)


def run_swebench(preds: Sequence, tasks: Sequence[Task], work: Path, *, workers: int = 2, timeout: float = 900,
                 image_of: Callable[[Task], str] | None = None) -> dict[str, GradeReport]:
    """Grade `preds` (srl_agent.grading_batch.Prediction) with swebench's run_evaluation CLI in `work` (its logs go to
    work/logs/run_evaluation/srl/...). Instances it already reported on are skipped, as swebench does."""
    by_id = {t.instance_id: t for t in tasks}
    unknown = [p.instance_id for p in preds if p.instance_id not in by_id]
    if unknown:
        raise InputError(f"{len(unknown)} predictions name tasks not in the task set, e.g. {unknown[0]!r}")
    work.mkdir(parents=True, exist_ok=True)
    export_instances([by_id[p.instance_id] for p in preds], work / "instances.jsonl", image_of=image_of)
    with (work / "predictions.jsonl").open("w", encoding="utf-8") as fh:
        for p in preds:
            fh.write(json.dumps({"instance_id": p.instance_id, "model_name_or_path": p.model_name_or_path,
                                 "model_patch": p.model_patch}) + "\n")
    cmd = [sys.executable, "-m", "swebench.harness.run_evaluation", "-d", "instances.jsonl", "-s", "test",
           "-p", "predictions.jsonl", "-id", RUN_ID, "--max_workers", str(max(1, workers)),
           "-t", str(int(timeout)), "--report_dir", "reports"]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    (work / "swebench.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SwebenchRunError(f"swebench's run_evaluation failed (exit {proc.returncode}); see "
                               f"{work / 'swebench.log'}:\n{(proc.stdout + proc.stderr)[-1500:]}")
    return {p.instance_id: to_grade(by_id[p.instance_id], p.model_patch,
                                    instance_log_dir(work, p.model_name_or_path, p.instance_id)) for p in preds}
