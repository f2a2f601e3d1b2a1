"""`srl grade`: grade SWE-bench-style predictions in containers, in parallel, resumable, with a SWE-bench-shaped
report (the work itself: srl_agent/grading_batch.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from srl_agent.cli.helpers import (add_split_arg, check_distinct, check_output, output_dir, output_file,
                                   positive_float, positive_int, suite_and_split, text_file)
from srl_agent.grading_batch import grade_predictions, grade_with_swebench, read_predictions, run_report
from srl_agent.runner import Interrupted, atomic_write, graceful_stop


def _grade(args: argparse.Namespace) -> int:
    from srl_agent.tasks.rows import load_tasks
    from srl_agent.tasks.swebench import ensure_images

    check_distinct(args.output, [args.predictions], "-o")
    out = Path(args.output)
    run_dir = Path(args.run_dir) if args.run_dir else out.with_name(out.stem + "_logs")
    check_output(run_dir, "--run-dir" if args.run_dir else f"the log folder beside -o ({run_dir})", kind="folder")
    preds = read_predictions(Path(args.predictions))
    suite, split = suite_and_split(args.tasks, args.split)
    tasks = load_tasks(suite, split=split, dataset=args.dataset)
    wanted = {p.instance_id for p in preds}
    found = ensure_images([t for t in tasks if t.instance_id in wanted])
    for t in tasks:
        t.image = found.get(t.instance_id, t.image)
    stop = None
    if args.judge == "swebench":
        reports = grade_with_swebench(preds, tasks, run_dir, workers=args.workers, timeout=args.timeout)
    else:
        with graceful_stop("running grades") as stop:
            reports = grade_predictions(preds, tasks, run_dir, workers=args.workers, timeout=args.timeout,
                                        progress=not args.quiet, stop=stop)
    report = run_report(tasks, preds, reports)
    atomic_write(out, json.dumps(report, indent=2))
    print(f"resolved {report['resolved_instances']}/{report['submitted_instances']} "
          f"({report['error_instances']} infrastructure errors, "
          f"{len(report['patch_not_applied_ids'])} patches did not apply); report: {out}; logs: {run_dir}")
    if stop is not None and stop.is_set():
        raise Interrupted(f"interrupted: {len(report['incomplete_ids'])} predictions not graded yet (incomplete_ids "
                          "in the report); rerun the same command to resume")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grade", help="grade SWE-bench-style predictions in containers",
                       description="Apply each prediction's model_patch to its task in a fresh container, run "
                                   "FAIL_TO_PASS and PASS_TO_PASS tests, and write a SWE-bench-style report. "
                                   "Instances already graded in the log folder are skipped (rerun to resume).")
    p.add_argument("predictions", type=text_file, help="JSON or JSONL with instance_id, model_name_or_path, "
                                                      "model_patch")
    p.add_argument("--tasks", default="pypi-mutants", metavar="SUITE[:split]",
                   help="suite name, folder or tasks file, optionally SUITE:split, or published rows: a JSON/JSONL "
                        "file, a swebench task repo, a Hugging Face id (default: pypi-mutants)")
    add_split_arg(p)
    p.add_argument("--dataset", choices=("swe-bench", "swe-gym", "swe-smith"), default=None,
                   help="conventions of published rows when they cannot tell (SWE-Gym rows look like SWE-bench's)")
    p.add_argument("--judge", choices=("srl", "swebench"), default="srl",
                   help="srl: the project's grader (default); swebench: swebench's own run_evaluation on the tasks "
                        "exported as 5.x instances (its logs under RUN_DIR/swebench)")
    p.add_argument("-o", "--output", required=True, type=output_file, help="where to write the run report (JSON)")
    p.add_argument("--run-dir", default=None, type=output_dir,
                   help="per-instance logs and reports (default: <OUTPUT stem>_logs beside the report)")
    p.add_argument("--workers", type=positive_int, default=2, help="containers graded at once (default: 2)")
    p.add_argument("--timeout", type=positive_float, default=900.0, help="seconds for one test run (default: 900)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_grade)
