"""Benchmark `srl traj import` and `srl traj split` on 5,000 SWE-smith-size trajectories (the paper's scale).

The input is made by re-identifying the real SWE-smith records of the corpus (new instance and trajectory
ids, same messages) into a temporary JSONL file. Each stage runs in a fresh process, once with one worker
(the baseline) and once with every usable core; the table gives wall time, peak memory (the process plus
its workers, each at its own peak) and examples per second, with the speed-up over the baseline.

    python eval/bench_trajectories.py [--trajectories 5000] [--corpus ../shared/corpus] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _corpus_records(corpus: Path) -> list[dict]:
    rows = json.loads((corpus / "swe-smith" / "hf_rows_sample.json").read_text())
    ft = [json.loads(line) for line in (corpus / "swe-smith" / "ft_xml_example.jsonl").read_text().splitlines()
          if line.strip()]
    return rows + [{**r, "resolved": True} for r in ft]


def make_input(corpus: Path, n: int, path: Path) -> None:
    base = _corpus_records(corpus)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            rec = dict(base[i % len(base)])
            rec["instance_id"] = f"{rec['instance_id']}.bench{i:05d}"
            rec["traj_id"] = f"{rec['instance_id']}.t{i:05d}"
            rec.pop("id", None)
            fh.write(json.dumps(rec) + "\n")


def _peak_mb() -> tuple[float, float]:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return self_kb / 1024, child_kb / 1024


def run_stage(stage: str, workers: int, src: str, dst: str) -> dict:
    """Run in a child process so that peak memory belongs to this stage only."""
    sys.path.insert(0, str(REPO))
    t0 = time.perf_counter()
    if stage == "import":
        from srl_agent.trajectory.importer import import_trajectories

        s = import_trajectories([src], dst, workers=workers)
        count, unit = s.accepted, "trajectories"
        extra = {"steps": s.steps, "rejected": s.rejected}
    else:
        import datasets

        from srl_agent.trajectory.split import SplitConfig, split_trajectories

        datasets.disable_progress_bars()
        s = split_trajectories(src, dst, SplitConfig(workers=workers, val_trajectories=30))
        count, unit = s.examples, "examples"
        extra = {"train": s.train_examples, "validation": s.val_examples, "over_budget": s.over_budget}
    wall = time.perf_counter() - t0
    me, kids = _peak_mb()
    cpu = sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                   resource.getrusage(resource.RUSAGE_CHILDREN)))
    return {"stage": stage, "workers": workers, "wall_s": wall, "cpu_s": cpu, "peak_mb": me,
            "worker_peak_mb": kids, "count": count, "unit": unit, **extra}


def _child(stage: str, workers: int, src: str, dst: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", stage, str(workers), src, dst],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"{stage} with {workers} workers failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def core_check(workers: int, n: int = 10_000_000) -> float:
    """Speed-up of `workers` processes over one on a pure CPU loop: what this machine can give right now."""
    from multiprocessing import get_context

    t0 = time.perf_counter()
    for _ in range(workers):
        _spin(n)
    serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    with get_context("fork").Pool(workers) as pool:
        pool.map(_spin, [n] * workers)
    return serial / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trajectories", type=int, default=5000)
    ap.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus"))
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--keep", default=None, help="keep the generated files in this folder")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        stage, workers, src, dst = args.child
        print(json.dumps(run_stage(stage, int(workers), src, dst)))
        return 0
    corpus = Path(args.corpus)
    if not (corpus / "swe-smith").is_dir():
        sys.exit(f"no corpus at {corpus}: pass --corpus PATH (the shared/corpus folder)")
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-traj-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        raw = work / "raw.jsonl"
        make_input(corpus, args.trajectories, raw)
        print(f"input: {args.trajectories} re-identified SWE-smith trajectories, "
              f"{raw.stat().st_size / 2**20:.0f} MiB; {len(os.sched_getaffinity(0))} usable cores")
        rows = []
        for stage in ("import", "split"):
            for w in dict.fromkeys((1, args.workers)):
                src = str(raw) if stage == "import" else str(work / "traj-1.jsonl")
                dst = str(work / f"traj-{w}.jsonl") if stage == "import" else str(work / f"ds-{w}")
                rows.append(_child(stage, w, src, dst))
        print_table(rows)
        if args.workers > 1:
            print(f"control: {args.workers} processes vs 1 on a pure CPU loop, measured just after: "
                  f"{core_check(args.workers):.2f}x (below {args.workers}x means other work shares the cores)")
        print(f"load average after the run (other users of this machine count): "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def print_table(rows: list[dict]) -> None:
    print("| stage | workers | wall s | vs 1 worker | CPU s (all processes) | peak MiB (main / per worker) "
          "| output | per second |")
    print("|---|---|---|---|---|---|---|---|")
    base = {r["stage"]: r["wall_s"] for r in rows if r["workers"] == 1}
    for r in rows:
        per_s = r["count"] / r["wall_s"] if r["wall_s"] else 0.0
        kid = f"{r['worker_peak_mb']:.0f}" if r["workers"] > 1 else "-"
        print(f"| {r['stage']} | {r['workers']} | {r['wall_s']:.1f} | {base[r['stage']] / r['wall_s']:.2f}x | "
              f"{r['cpu_s']:.1f} | "
              f"{r['peak_mb']:.0f} / {kid} | {r['count']} {r['unit']} | {per_s:,.0f} {r['unit']}/s |")
    total = sum(r["wall_s"] for r in rows if r["workers"] == max(x["workers"] for x in rows))
    print(f"\nimport + split with the most workers: {total:.1f} s (target <= 60 s)")
    for r in rows:
        shown = ("stage", "workers", "wall_s", "cpu_s", "peak_mb", "worker_peak_mb", "count", "unit")
        extra = {k: v for k, v in r.items() if k not in shown}
        print(f"  {r['stage']} x{r['workers']}: {extra}")


if __name__ == "__main__":
    sys.exit(main())
