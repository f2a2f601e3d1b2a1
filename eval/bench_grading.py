"""Benchmark: package and task image build times and tasks graded per minute (fresh container each) with 1 and
2 workers."""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from srl_agent.grading_batch import Prediction, grade_predictions
from srl_agent.tasks import load_recipe, load_suite
from srl_agent.tasks.images import build_package_image, build_task_image
from srl_agent.tasks.validate import sample_per_package


def cold_builds() -> list[tuple[str, float]]:
    """Each package image built from scratch under a throw-away tag (sdists cached: fetching is not timed)."""
    out = []
    for spec in load_recipe("pypi-mutants").packages:
        tag = f"srl-agent-bench:{spec.key}"
        build_package_image(spec, tag=tag, force=True, no_cache=True)  # warm the sdist cache and base layers
        r = build_package_image(spec, tag=tag, force=True, no_cache=True)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
        out.append((spec.key, r.seconds))
    return out


def task_builds() -> tuple[int, float, float]:
    """Every task image of the suite built again under a throw-away tag (package images present): how many,
    seconds in all, and the disk the extra layers take."""
    suite = load_recipe("pypi-mutants")
    tasks = load_suite("pypi-mutants")
    t0, size = time.perf_counter(), 0
    for i, t in enumerate(tasks):
        tag = f"srl-agent-bench-task:{i}"
        build_task_image(t, suite.package(t.extra["package"]), force=True, tag=tag, no_cache=True)
        out = subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", tag], capture_output=True, text=True)
        pkg = subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}",
                              build_package_image(suite.package(t.extra["package"])).tag], capture_output=True,
                             text=True)
        size += int(out.stdout.strip() or 0) - int(pkg.stdout.strip() or 0)
    seconds = time.perf_counter() - t0
    subprocess.run(["docker", "rmi", "-f", *[f"srl-agent-bench-task:{i}" for i in range(len(tasks))]],
                   capture_output=True)
    return len(tasks), seconds, size / 2 ** 20


def throughput(tasks, workers: int) -> tuple[float, int]:
    preds = [Prediction(t.instance_id, "gold", t.gold_patch) for t in tasks]
    tmp = Path(tempfile.mkdtemp(prefix="srl-bench-grade-"))
    try:
        t0 = time.perf_counter()
        reports = grade_predictions(preds, tasks, tmp, workers=workers, progress=False)
        dt = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return len(tasks) / dt * 60.0, sum(r.resolved for r in reports.values())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--per-package", type=int, default=2, help="tasks per package graded in each setting")
    ap.add_argument("--repeats", type=int, default=3,
                    help="alternating 1- and 2-worker runs; medians are reported (the machine is shared)")
    args = ap.parse_args()
    builds = cold_builds()
    n_tasks, task_seconds, task_mib = task_builds()
    tasks = sample_per_package(load_suite("pypi-mutants"), args.per_package, seed=3)
    throughput(tasks[:2], 1)  # warm-up: page cache, docker layers
    runs1, runs2 = [], []
    for _ in range(args.repeats):  # alternate so that load from other work hits both settings alike
        runs1.append(throughput(tasks, 1))
        runs2.append(throughput(tasks, 2))
    one, two = statistics.median(r for r, _ in runs1), statistics.median(r for r, _ in runs2)
    ok1, ok2 = min(k for _, k in runs1), min(k for _, k in runs2)
    print("| image (cold build, no cache) | seconds |")
    print("|---|---|")
    for key, s in builds:
        print(f"| {key} | {s:.1f} |")
    print(f"| all {len(builds)} images | {sum(s for _, s in builds):.1f} |")
    print(f"| {n_tasks} task images (one layer each on its package image, no cache) | {task_seconds:.1f} "
          f"({task_seconds / n_tasks:.2f} per task; {task_mib:.1f} MiB of layers in all) |")
    print()
    print(f"| workers | tasks graded / min (median of {args.repeats}; {len(tasks)} gold patches, fresh container each)"
          " | resolved | ratio vs 1 |")
    print("|---|---|---|---|")
    print(f"| 1 | {one:.1f} | {ok1}/{len(tasks)} | 1.00x |")
    print(f"| 2 | {two:.1f} | {ok2}/{len(tasks)} | {two / one:.2f}x |")
    return 0 if ok1 == ok2 == len(tasks) else 1


if __name__ == "__main__":
    sys.exit(main())
