"""Learning evidence: the pre-registered comparison of docs/evidence-protocol.md (base, SFT, SRL, RLVR, SRL then RLVR).

    python eval/learning_evidence.py [--quick] [-o runs/evidence] [--jobs 2] [--student DIR] [--dry-estimate] [--docs]

Every (method, seed) run is its own process (1 torch thread) and writes <out>/runs/<method>-seed<k>.json when
done; a rerun skips finished runs, so an interrupted experiment goes on where it stopped, and --report only
redoes the tables. Writes <out>/results.json, <out>/table.md and <out>/evidence.png (and, with --docs, the
README's results section and docs/evidence.png). --dry-estimate prepares the data, runs SFT's pilot and the base
run (both kept for the real run) and prints the estimated wall time of the whole experiment.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "eval"))

from evidence.runs import METHODS, QUICK, Context, Settings, pilot, run_one, run_path  # noqa: E402

TRAINED = METHODS[1:]


def log(msg: str) -> None:
    print(f"[evidence] {msg}", file=sys.stderr, flush=True)


def student_record(student: str) -> dict:
    path = Path(student) / "student.json"
    return json.loads(path.read_text()) if path.is_file() else {"note": f"no student.json in {student}"}


def make_context(out: Path, student: str, s: Settings, quick: bool, trajectories: Path) -> Context:
    """The shared context (data prepared, the student's window, its selection score = every run's 0 point);
    kept in <out>/context.json so every rerun and child sees the same one."""
    from evidence.data import load_rows, prepare_data

    path = out / "context.json"
    settings = json.loads(json.dumps(asdict(s)))
    if path.is_file():
        ctx = Context(**json.loads(path.read_text()))
        if ctx.student != student or ctx.settings != settings:
            from srl_agent.errors import ConfigError

            raise ConfigError(f"{out} holds an experiment with another student or settings: pick another -o, or "
                              "delete it to start over")
        return ctx
    data = prepare_data(out, trajectories, quick=quick)
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from evidence.budget import step_scores

    torch.set_num_threads(1)
    window = int(getattr(AutoConfig.from_pretrained(student), "max_position_embeddings", 4096))
    t = time.monotonic()
    base = step_scores(AutoModelForCausalLM.from_pretrained(student), AutoTokenizer.from_pretrained(student),
                       load_rows(data.selection_steps, s.selection_examples), s.max_new_tokens, window)
    log(f"selection split scored for the start point in {time.monotonic() - t:.0f}s "
        f"({base['examples']} examples)")
    ctx = Context(out=str(out), student=student, suite="pypi-mutants", window=window, settings=settings,
                  base_selection={"step_reward": base["step_reward"], "parse_rate": base["parse_rate"],
                                  "wall_seconds": round(time.monotonic() - t, 1)})
    path.write_text(json.dumps(asdict(ctx), indent=1))
    return ctx


# ------------------------------------------------------------------------------------------ child processes
def child_main(kind: str, out: Path, method: str | None, seed: int | None) -> int:
    def stop(*_):
        raise KeyboardInterrupt  # context managers then remove this run's containers

    signal.signal(signal.SIGTERM, stop)
    ctx = Context(**json.loads((out / "context.json").read_text()))
    pilot_file = out / "pilot.json"
    if pilot_file.is_file():
        ctx.pilot_steps = json.loads(pilot_file.read_text())["steps"]
    if kind == "pilot":
        rec = pilot(ctx)
        pilot_file.write_text(json.dumps(rec, indent=1))
    else:
        run_one(method, seed, ctx)
    return 0


class Job:
    def __init__(self, name: str, args: list[str], done: Path, needs: Path | None = None) -> None:
        self.name, self.args, self.done, self.needs = name, args, done, needs
        self.proc: subprocess.Popen | None = None
        self.started = 0.0


def plan(out: Path, s: Settings, estimate_only: bool) -> list[Job]:
    jobs = [Job("pilot (SFT steps in B)", ["--child", "pilot"], out / "pilot.json"),
            Job("base", ["--child", "run", "--method", "base", "--seed", "0"], run_path(out, "base", 0))]
    if not estimate_only:
        for seed in range(s.seeds):
            for m in TRAINED:
                jobs.append(Job(f"{m} seed {seed}", ["--child", "run", "--method", m, "--seed", str(seed)],
                                run_path(out, m, seed), out / "pilot.json" if m == "sft" else None))
    return [j for j in jobs if not j.done.is_file()]


def execute(jobs: list[Job], out: Path, parallel: int) -> dict:
    """Run the jobs, `parallel` at a time, in their own sessions (Ctrl-C here stops them cleanly)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    waiting, running, walls, t0 = list(jobs), [], {}, time.monotonic()
    failed: list[str] = []
    total = len(jobs)
    try:
        while waiting or running:
            for j in [j for j in waiting if len(running) < parallel and (j.needs is None or j.needs.is_file())]:
                if len(running) >= parallel:
                    break
                waiting.remove(j)
                j.started = time.monotonic()
                with open(out / "logs" / f"{j.done.stem}.log", "w") as logf:
                    j.proc = subprocess.Popen([sys.executable, __file__, "-o", str(out), *j.args], env=env,
                                              stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
                running.append(j)
            time.sleep(1.0)
            for j in [j for j in running if j.proc.poll() is not None]:
                running.remove(j)
                walls[j.name] = round(time.monotonic() - j.started, 1)
                if j.proc.returncode != 0 or not j.done.is_file():  # the others go on; rerun retries this one
                    failed.append(f"{j.name} (exit {j.proc.returncode}; see {out / 'logs' / (j.done.stem + '.log')})")
                    log(f"{j.name} FAILED: {failed[-1]}")
                    if j.needs is None and "pilot" in j.name:
                        waiting = [w for w in waiting if w.needs is None]
                    continue
                done = total - len(waiting) - len(running)
                eta = (time.monotonic() - t0) / done * (total - done)
                log(f"{j.name} done in {walls[j.name]:.0f}s ({done}/{total}; ETA {eta / 60:.0f} min)")
    except BaseException:
        for j in running:
            j.proc.send_signal(signal.SIGTERM)
        for j in running:
            try:
                j.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                j.proc.kill()
        raise
    if failed:
        raise RuntimeError(f"{len(failed)} run(s) failed: {'; '.join(failed)}. Fix the cause and rerun the same "
                           "command: finished runs are kept")
    return walls


def estimate(out: Path, ctx: Context, parallel: int, s: Settings) -> dict:
    """Total wall from the pilot (SFT's wall per CPU-second of B) and the base run (selection and held-out cost)."""
    p = json.loads((out / "pilot.json").read_text())
    base = json.loads(run_path(out, "base", 0).read_text())
    train = p["wall_seconds"] * s.budget / max(1.0, p["cpu_seconds"])
    select = 4 * ctx.base_selection["wall_seconds"]
    heldout = base["cost"]["heldout_wall_seconds"]
    rlvr_path = run_path(out, "rlvr", 0)
    rlvr = json.loads(rlvr_path.read_text())["cost"]["train_wall_seconds"] if rlvr_path.is_file() else train
    # sft and srl at the pilot's pace, rlvr at its own (episodes in containers), srl-then-rlvr half each
    train_all = s.seeds * (2 * train + rlvr + (train + rlvr) / 2)
    runs = len(TRAINED) * s.seeds
    per_run = train_all / runs + select + heldout
    total = runs * per_run / parallel
    rec = {"per_run_seconds": round(per_run, 1), "train_seconds": round(train, 1), "selection_seconds": round(select, 1),
           "heldout_seconds": round(heldout, 1), "runs": runs, "jobs": parallel, "total_minutes": round(total / 60, 1),
           "load_average": os.getloadavg()[0], "rlvr_train_seconds": round(rlvr, 1),
           "note": "rlvr at the pilot's pace unless runs/rlvr-seed0.json exists (its episodes run in containers, so "
           "its wall per CPU-second is higher); the grade cache makes later runs' held-out part shorter than base's"}
    log(f"estimate: {runs} runs x {per_run / 60:.1f} min (train {train:.0f}s + selection {select:.0f}s + "
        f"held-out {heldout:.0f}s) / {parallel} jobs = {total / 60:.0f} min, plus pilot and base")
    return rec


# ------------------------------------------------------------------------------------------------ reporting
def collect(out: Path, ctx: Context, info: dict) -> dict:
    from evidence.report import summarize

    runs = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    pilot_file = out / "pilot.json"
    first = next((r for r in runs), {})
    info.update(student=ctx.student, student_json=student_record(ctx.student), settings=ctx.settings,
                pilot=json.loads(pilot_file.read_text()) if pilot_file.is_file() else None,
                base_selection=ctx.base_selection, heldout_examples=first.get("heldout_examples"),
                heldout_tasks=len(first.get("episodes", {}).get("start", [])))
    return {"info": info, "stats": summarize(runs), "runs": runs}


def write_outputs(out: Path, results: dict, docs: bool) -> str:
    import shutil

    from evidence.report import plot, table

    (out / "results.json").write_text(json.dumps(results, indent=1))
    text = table(results)
    (out / "table.md").write_text(text)
    plot(results, out / "evidence.png")
    if docs:
        shutil.copy(out / "evidence.png", REPO / "docs" / "evidence.png")
        write_readme_section(text)
    return text


README_START, README_END = "<!-- evidence:start -->", "<!-- evidence:end -->"


def write_readme_section(text: str) -> None:
    """Replace the README's results block (between the evidence markers) by the table."""
    readme = REPO / "README.md"
    body = readme.read_text()
    if README_START not in body:
        log(f"README.md has no {README_START} marker: results section not written")
        return
    head, rest = body.split(README_START, 1)
    tail = rest.split(README_END, 1)[1] if README_END in rest else ""
    block = f"{README_START}\n{text}\n![learning evidence](docs/evidence.png)\n{README_END}"
    readme.write_text(head + block + tail)


def settings_from(args) -> Settings:
    base = QUICK if args.quick else Settings()
    s = Settings(**{**asdict(base)})
    s.prefix_ks = tuple(s.prefix_ks)
    if args.budget is not None:
        s.budget = args.budget
    if args.seeds is not None:
        s.seeds = args.seeds
    s.grade_cache = not args.no_grade_cache
    return s


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the same code, 1 seed, tiny budget, few examples (CI)")
    p.add_argument("-o", "--output", default=None, help="output dir (default runs/evidence or runs/evidence-quick)")
    p.add_argument("--jobs", type=int, default=2, help="runs in parallel, each a process with 1 torch thread")
    p.add_argument("--student", default=None, help="starting student (default: the one `srl student init` builds)")
    p.add_argument("--trajectories", default=None, help="expert trajectories (default: srl_agent/resources/trajectories/pypi-mutants.jsonl)")
    p.add_argument("--budget", type=float, default=None, help="B in CPU-seconds (the protocol's is 150)")
    p.add_argument("--seeds", type=int, default=None, help="(the protocol's is 5)")
    p.add_argument("--no-grade-cache", action="store_true",
                   help="grade every episode's patch in its own fresh container, even one already graded")
    p.add_argument("--dry-estimate", action="store_true", help="run the pilot and base, print the estimated wall time")
    p.add_argument("--docs", action="store_true", help="also write the README section and docs/evidence.png")
    p.add_argument("--report", action="store_true", help="only redo results.json, table and plot from the run files")
    p.add_argument("--child", choices=["run", "pilot"], help=argparse.SUPPRESS)
    p.add_argument("--method", choices=METHODS, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.output or (REPO / "runs" / ("evidence-quick" if args.quick else "evidence"))).resolve()
    if args.child:
        return child_main(args.child, out, args.method, args.seed)
    from srl_agent.errors import SRLError
    from srl_agent.policy.student import default_student_dir
    from srl_agent.resources import resource_dir

    try:
        student = str(Path(args.student or default_student_dir()).resolve())
        if not (Path(student) / "config.json").is_file():
            raise SRLError(f"--student {student}: no model there (build the default one with `srl student init`)")
        s, t0 = settings_from(args), time.monotonic()
        (out / "logs").mkdir(parents=True, exist_ok=True)
        trajectories = Path(args.trajectories or resource_dir("trajectories", "pypi-mutants.jsonl"))
        ctx = make_context(out, student, s, args.quick, trajectories)
        # A run that finds the pilot already done resumes an earlier one: its wall time is not the experiment's.
        info: dict = {"quick": args.quick, "jobs": args.jobs, "report_only": args.report,
                      "resumed": (out / "pilot.json").is_file()}
        if not args.report:
            jobs = plan(out, s, args.dry_estimate)
            log(f"{len(jobs)} run(s) to do in {out} ({args.jobs} at a time; logs in {out / 'logs'})")
            info["job_wall_seconds"] = execute(jobs, out, max(1, args.jobs))
        if args.dry_estimate:
            rec = estimate(out, ctx, max(1, args.jobs), s)
            (out / "estimate.json").write_text(json.dumps(rec, indent=1))
            return 0
        info["wall_seconds"] = round(time.monotonic() - t0, 1)
        text = write_outputs(out, collect(out, ctx, info), args.docs)
    except KeyboardInterrupt:
        log(f"stopped; finished runs are kept in {out / 'runs'}: rerun the same command to go on")
        return 130
    except (SRLError, RuntimeError) as exc:
        print(f"learning_evidence: {exc}", file=sys.stderr)
        return 1
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
