"""Benchmark `srl traj import` and `srl traj split` on 5,000 SWE-smith-size trajectories (the paper's scale).

The input is made by re-identifying the real SWE-smith records of the corpus (new instance and trajectory
ids, same messages) into a temporary JSONL file, and the same rows into a dataset repository folder of parquet
shards (README with configs, split `xml`, messages as JSON strings as on the Hub), which `srl traj import DIR
--split xml` streams through `datasets.load_dataset` exactly as it streams a Hub id. Each stage runs in a fresh
process, once with one worker (the baseline) and once with every usable core; the table gives wall time, CPU
time, peak RSS (the process, and its workers each at its own peak; RSS counts the resident pages of memory-mapped
Arrow files too) and throughput, with the speed-up over the baseline. A pure CPU control loop, measured before
and after, says how much of a second core the machine could give at the time (other jobs share it).

    python eval/bench_trajectories.py [--trajectories 5000] [--corpus ../shared/corpus] [--keep DIR] [--no-dataset]
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


REPO_README = """---
configs:
- config_name: default
  data_files:
  - split: xml
    path: data/xml-*.parquet
---
"""


def make_dataset_repo(raw: Path, folder: Path, rows_per_shard: int = 500) -> None:
    """The JSONL rows as a Hub-style dataset repository: parquet shards, `messages` as a JSON string."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(REPO_README)
    batch: list[dict] = []
    shards = 0

    def write() -> None:
        nonlocal shards
        pq.write_table(pa.Table.from_pylist(batch), folder / "data" / f"xml-{shards:05d}.parquet")
        shards += 1
        batch.clear()

    with open(raw, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if not isinstance(rec["messages"], str):
                rec["messages"] = json.dumps(rec["messages"])
            batch.append({k: rec.get(k) for k in ("instance_id", "messages", "resolved", "model", "traj_id", "patch")})
            if len(batch) == rows_per_shard:
                write()
    if batch:
        write()


def _peak_mb() -> tuple[float, float]:
    # VmHWM is this process's own peak; ru_maxrss of RUSAGE_SELF would carry the parent's peak across exec on Linux.
    status = Path("/proc/self/status")
    hwm = [line for line in status.read_text().splitlines() if line.startswith("VmHWM:")] if status.is_file() else []
    self_kb = int(hwm[0].split()[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return self_kb / 1024, child_kb / 1024


def run_stage(stage: str, workers: int, src: str, dst: str) -> dict:
    """Run in a child process so that peak memory belongs to this stage only."""
    sys.path.insert(0, str(REPO))
    t0 = time.perf_counter()
    if stage in ("import", "import-dataset"):
        from srl_agent.trajectory.importer import import_trajectories

        s = import_trajectories([src], dst, workers=workers, split="xml" if stage == "import-dataset" else None)
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
    ap.add_argument("--no-dataset", action="store_true", help="skip the dataset-repo (parquet, streamed) import")
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
        if not args.no_dataset:
            make_dataset_repo(raw, work / "repo")
        before = _machine(args.workers)
        rows = []
        for stage in ("import", "split"):
            for w in dict.fromkeys((1, args.workers)):
                src = str(raw) if stage == "import" else str(work / "traj-1.jsonl")
                dst = str(work / f"traj-{w}.jsonl") if stage == "import" else str(work / f"ds-{w}")
                rows.append(_child(stage, w, src, dst))
        if not args.no_dataset:  # one dataset is one unit: read by one worker whatever --workers says
            rows.append(_child("import-dataset", 1, str(work / "repo"), str(work / "traj-dataset.jsonl")))
        after = _machine(args.workers)
        print_table(rows)
        for when, m in (("before", before), ("after", after)):
            print(f"control {when} the run: {m}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _machine(workers: int) -> str:
    """Load average and the control loop's speed-up: how shared the machine is right now."""
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    if workers < 2:
        return f"load average {load}"
    return (f"load average {load}; {workers} processes vs 1 on a pure CPU loop: {core_check(workers):.2f}x "
            f"(below {workers}x means other work shares the cores)")


def print_table(rows: list[dict]) -> None:
    print("| stage | workers | wall s | vs 1 worker | CPU s (all processes) | peak MiB (main / per worker) "
          "| output | per second |")
    print("|---|---|---|---|---|---|---|---|")
    base = {r["stage"]: r["wall_s"] for r in rows if r["workers"] == 1}
    base["import-dataset"] = base.get("import", 1.0)  # compared with the JSONL import on one worker
    for r in rows:
        per_s = r["count"] / r["wall_s"] if r["wall_s"] else 0.0
        kid = f"{r['worker_peak_mb']:.0f}" if r["workers"] > 1 else "-"
        print(f"| {r['stage']} | {r['workers']} | {r['wall_s']:.1f} | {base[r['stage']] / r['wall_s']:.2f}x | "
              f"{r['cpu_s']:.1f} | "
              f"{r['peak_mb']:.0f} / {kid} | {r['count']} {r['unit']} | {per_s:,.0f} {r['unit']}/s |")
    most = max(x["workers"] for x in rows)
    total = sum(r["wall_s"] for r in rows if r["workers"] == most and r["stage"] in ("import", "split"))
    print("(import-dataset: the same rows streamed from a parquet dataset repo; its ratio is against the JSONL "
          "import on one worker)")
    print(f"\nimport + split with the most workers: {total:.1f} s (target <= 60 s)")
    for r in rows:
        shown = ("stage", "workers", "wall_s", "cpu_s", "peak_mb", "worker_peak_mb", "count", "unit")
        extra = {k: v for k, v in r.items() if k not in shown}
        print(f"  {r['stage']} x{r['workers']}: {extra}")


if __name__ == "__main__":
    sys.exit(main())
