"""`srl demo`: the whole pipeline on the bundled default (tasks, verified expert trajectories, the tiny student,
SRL training, step reward before/after, agent evaluation in containers, the HTML report), resumable stage by stage.

Each stage is a real `srl` command (srl_agent.demo.stages) run in this process; its output lives in the run
directory and `stages.json` records the settings that produced it, so a second run skips what is already done
and a run with other settings (or `--fresh`) redoes it. A failure names the stage and the command that reruns it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
import traceback
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from srl_agent.demo import stages as st
from srl_agent.errors import SRLError
from srl_agent.runner import atomic_write

SUMMARY_SCHEMA = "srl-demo-summary/1"
STAGES_SCHEMA = "srl-demo-stages/1"
# Everything --fresh removes: only what the demo itself writes into the run directory.
RUN_OUTPUTS = ("expert", "steps", "train", "eval", "steps_before.json", "steps_after.json", "report.html",
               "stages.json", "summary.json", "demo.log", "student.log")


@dataclass
class Stage:
    """One stage. `setup` stages build shared caches outside the run dir (reused when present); the others
    write into the run dir and are skipped when their output exists and was made with the same settings."""

    name: str
    what: str
    commands: Callable[[st.Context], list[str]]
    run: Callable[[st.Context], dict]
    done: Callable[[st.Context], bool]
    setup: bool = False
    deps: tuple[str, ...] = ()
    key: Callable[[st.Context], object] = lambda ctx: None
    result: Callable[[st.Context], dict] | None = None


def _cmd(argv_fn: Callable[[st.Context], list[str]]) -> Callable[[st.Context], list[str]]:
    return lambda ctx: ["srl " + " ".join(_quote(ctx, a) for a in argv_fn(ctx))]


def _quote(ctx: st.Context, arg: str) -> str:
    import shlex

    return shlex.quote(ctx.rel(arg) if arg.startswith("/") and Path(arg).exists() else arg)


def _student_key(ctx: st.Context) -> str:
    spec = Path(ctx.facts["student"]) / "student.json"
    return ctx.facts["student"] + hashlib.sha256(spec.read_bytes()).hexdigest()[:12]


STAGES: list[Stage] = [
    Stage("env", "Docker engine and the offline base image (srl env setup)", lambda c: ["srl env setup"],
          st.env_run, st.env_ready, setup=True, result=st.env_result),
    Stage("tasks", f"the {st.SUITE} package images (srl tasks build)", lambda c: [f"srl tasks build {st.SUITE}"],
          st.tasks_run, st.tasks_ready, setup=True, result=st.tasks_result),
    Stage("expert", "expert trajectories: replay in containers, keep those that still resolve", st.expert_commands,
          st.expert_run, st.expert_done, key=lambda c: (st.bundled_digest(c), c.plan.train_trajectories,
                                                         c.plan.heldout_trajectories, c.plan.workers)),
    Stage("student", "the tiny student (built once, cached)", st.student_command, st.student_run, st.student_ready,
          setup=True, result=st.student_result),
    Stage("split", "step examples with held-out validation trajectories (srl traj split)", _cmd(st.split_argv),
          st.split_run, lambda c: (c.p("steps") / "dataset_dict.json").is_file(), deps=("expert",),
          key=lambda c: (st.split_argv(c), _student_key(c))),
    Stage("steps-before", "step reward of the untrained student on validation (srl eval-steps)",
          _cmd(lambda c: st.steps_argv(c, c.facts["student"], "steps_before.json")),
          lambda c: (run_quiet(c, st.steps_argv(c, c.facts["student"], "steps_before.json")),
                     st.steps_result(c, "steps_before.json"))[1],
          lambda c: c.p("steps_before.json").is_file(), deps=("split",),
          key=lambda c: (st.steps_argv(c, c.facts["student"], "steps_before.json"), _student_key(c)),
          result=lambda c: st.steps_result(c, "steps_before.json")),
    Stage("train", "SRL training, the srl_cpu preset (srl train --method srl)", _cmd(st.train_argv), st.train_run,
          lambda c: (c.p("train", "final") / "config.json").is_file(), deps=("split",),
          key=lambda c: (st.train_argv(c), _student_key(c)), result=st.train_result),
    Stage("steps-after", "step reward of the trained student on validation (srl eval-steps)",
          _cmd(lambda c: st.steps_argv(c, st.trained_model(c), "steps_after.json")),
          lambda c: (run_quiet(c, st.steps_argv(c, st.trained_model(c), "steps_after.json")),
                     st.steps_result(c, "steps_after.json"))[1],
          lambda c: c.p("steps_after.json").is_file(), deps=("train",),
          key=lambda c: st.steps_argv(c, st.trained_model(c), "steps_after.json"),
          result=lambda c: st.steps_result(c, "steps_after.json")),
    Stage("eval", "the trained student as an agent on held-out tasks in containers (srl eval)", _cmd(st.eval_argv),
          st.eval_run, lambda c: c.p("eval", "summary.json").is_file(), deps=("train", "expert"),
          key=st.eval_argv, result=st.eval_result),
    Stage("report", "the HTML trace viewer, expert steps beside the student's (srl traces view)",
          _cmd(st.report_argv), st.report_run, lambda c: c.p("report.html").is_file(), deps=("eval",),
          key=st.report_argv, result=st.report_result),
]


def run_quiet(ctx: st.Context, argv: list[str]) -> int:
    return st.run_srl(ctx, argv)


@dataclass
class StageRecord:
    name: str
    status: str           # done (did the work), reused (shared cache present), skipped (run dir had it)
    seconds: float
    detail: dict = field(default_factory=dict)
    signature: str | None = None
    first_seconds: float | None = None  # for a skipped stage: what it took when it ran


def _signature(stage: Stage, ctx: st.Context, sigs: dict[str, str]) -> str:
    blob = json.dumps([stage.name, stage.key(ctx), [sigs.get(d) for d in stage.deps]],
                      default=str, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _load_records(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}
    return data.get("stages", {}) if data.get("schema") == STAGES_SCHEMA else {}


def _save_records(path: Path, records: dict[str, dict]) -> None:
    atomic_write(path, json.dumps({"schema": STAGES_SCHEMA, "stages": records}, indent=1) + "\n")


def run_demo(plan: st.DemoPlan, run_dir: Path, run_command: Callable[[list[str]], int], *, fresh: bool = False,
             trajectories: Path | None = None, reverify: bool = False, out=sys.stdout) -> dict:
    """Run (or resume) every stage; write summary.json; return it. Raises DemoStageError naming the stage.

    `run_command(argv) -> exit code` runs one `srl` command in this process (srl_agent.cli.demo passes the CLI's
    own dispatcher: the demo sits below the CLI and does not import it)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if fresh:
        for name in RUN_OUTPUTS:
            target = run_dir / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    ctx = st.Context(plan, run_dir.resolve(), run_dir.resolve() / "demo.log", trajectories, run_command=run_command)
    ctx.facts["reverify"] = reverify
    records_path = ctx.p("stages.json")
    old = _load_records(records_path)
    records: dict[str, dict] = dict(old)
    sigs: dict[str, str] = {}
    done: list[StageRecord] = []
    t_all = time.perf_counter()
    say = lambda s="": print(s, file=out, flush=True)  # noqa: E731
    say(f"srl demo ({plan.mode}) -> {ctx.rel(run_dir)}   (log of every command: {ctx.rel(ctx.log)})")
    with ExitStack() as stack:
        _start_student(ctx, stack, say)
        for i, stage in enumerate(STAGES, 1):
            rec = _run_stage(stage, f"[{i:2d}/{len(STAGES)}] {stage.name:<12s}", ctx, old, sigs, say)
            if rec.status != "skipped":
                records[stage.name] = {"signature": rec.signature, "seconds": rec.seconds, "detail": rec.detail,
                                       "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                _save_records(records_path, records)
            done.append(rec)
    summary = build_summary(ctx, done, round(time.perf_counter() - t_all, 1))
    (ctx.p("summary.json")).write_text(json.dumps(summary, indent=1) + "\n")
    say()
    say(format_summary(summary))
    return summary


def _start_student(ctx: st.Context, stack: ExitStack, say: Callable[[str], None]) -> None:
    """When the student must be built, start its build now in a second process (srl_agent.demo.background):
    it overlaps the image builds and the replay instead of adding its minutes after them."""
    from srl_agent.demo.background import BackgroundBuild

    if st.student_ready(ctx):
        return
    build = stack.enter_context(BackgroundBuild.srl(st.student_argv(ctx), ctx.p("student.log")))
    ctx.facts["background"] = build
    say(f"{'':18s}the student builds in the background meanwhile (log: {ctx.rel(ctx.p('student.log'))})")


def _run_stage(stage: Stage, head: str, ctx: st.Context, old: dict, sigs: dict[str, str], say) -> StageRecord:
    """One stage: reuse or skip it when its output is there with the same inputs, else run it."""
    t0 = time.perf_counter()
    try:
        if stage.setup:
            if stage.done(ctx):
                rec = StageRecord(stage.name, "reused", 0.0)
                say(f"{head} reused: {stage.what}")
                ran = {}
            else:
                say(f"{head} {stage.what} ...")
                ran = stage.run(ctx) or {}
                rec = StageRecord(stage.name, "done", 0.0)
                if not stage.done(ctx):
                    raise st.DemoStageError("the command finished but its output is not there")
            rec.detail = {**ran, **(stage.result(ctx) if stage.result else {})}
            sigs[stage.name] = stage.name
        else:
            sig = _signature(stage, ctx, sigs)
            prev = old.get(stage.name) or {}
            if prev.get("signature") == sig and stage.done(ctx):
                detail = stage.result(ctx) if stage.result else prev.get("detail", {})
                rec = StageRecord(stage.name, "skipped", 0.0, detail, sig, prev.get("seconds"))
                say(f"{head} skipped: already in {ctx.rel(ctx.run_dir)} (--fresh redoes it)")
            else:
                say(f"{head} {stage.what} ...")
                rec = StageRecord(stage.name, "done", 0.0, stage.run(ctx), sig)
            sigs[stage.name] = sig
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure is reported with the stage and how to rerun it
        raise _stage_error(stage, ctx, exc) from None
    rec.seconds = round(time.perf_counter() - t0, 1)
    if rec.status == "done":
        say(f"{'':18s}done in {rec.seconds:.1f}s")
    return rec


def _stage_error(stage: Stage, ctx: st.Context, exc: BaseException) -> st.DemoStageError:
    with open(ctx.log, "a", encoding="utf-8") as log:
        log.write(f"\nstage {stage.name} failed:\n{traceback.format_exc()}")
    try:
        cmds = stage.commands(ctx)
    except Exception:  # noqa: BLE001 - the hint must not hide the real error
        cmds = [f"srl demo --run-dir {ctx.rel(ctx.run_dir)}"]
    what = str(exc) if isinstance(exc, SRLError) else f"{type(exc).__name__}: {exc} (traceback in {ctx.rel(ctx.log)})"
    return st.DemoStageError(f"stage '{stage.name}' failed: {what}\n  rerun it alone: " + "\n  then: ".join(cmds)
                             + f"\n  then resume the demo: srl demo --run-dir {ctx.rel(ctx.run_dir)}"
                             + (" --quick" if ctx.plan.mode == "quick" else ""))


def build_summary(ctx: st.Context, records: list[StageRecord], total: float) -> dict:
    by = {r.name: r.detail for r in records}
    before, after = by.get("steps-before", {}), by.get("steps-after", {})
    student = ctx.facts.get("student")
    return {
        "schema": SUMMARY_SCHEMA, "mode": ctx.plan.mode, "run_dir": str(ctx.run_dir), "plan": ctx.plan.to_dict(),
        "student": {"path": student, **(st.student_info(student) if student else {})},
        "stages": [{"name": r.name, "status": r.status, "seconds": r.seconds, "first_seconds": r.first_seconds,
                    "detail": r.detail} for r in records],
        "step_reward": {"before": before.get("mean_reward"), "after": after.get("mean_reward"),
                        "examples": after.get("examples") or before.get("examples")},
        "parse_rate": {"before": before.get("parse_rate"), "after": after.get("parse_rate")},
        "expert": by.get("expert", {}), "train": by.get("train", {}), "eval": by.get("eval", {}),
        "report": str(ctx.p("report.html")), "report_steps": by.get("report", {}).get("steps_shown"),
        "total_seconds": total,
    }


def _stage_line(s: dict) -> str:
    d = s["detail"] or {}
    n = s["name"]
    if n == "expert" and d:
        return (f"{d.get('verified')} of {d.get('checked')} trajectories verified ({d.get('train')} train-task, "
                f"{d.get('heldout')} held-out-task; {d.get('steps')} steps); {d.get('source')}")
    if n == "split" and d:
        e = d.get("examples", {})
        return f"{e.get('train')} train / {e.get('validation')} validation step examples"
    if n in ("steps-before", "steps-after") and d:
        return f"mean step reward {d['mean_reward']:+.3f}, parse rate {100 * d['parse_rate']:.1f}% ({d['examples']} examples)"
    if n == "train" and d:
        r = d.get("mean_reward")
        return f"{d.get('steps')} SRL steps; mean rollout reward {r:+.3f}" if r is not None else f"{d.get('steps')} steps"
    if n == "eval" and d:
        return f"{d.get('resolved')}/{d.get('episodes')} resolved, mean {d.get('mean_steps', 0):.1f} steps"
    if n == "report" and d:
        return f"{d.get('kib')} KiB, {d.get('steps_shown')} steps"
    if n == "student" and d:
        return f"{d.get('what')}: {d.get('parameters', 0):,} parameters, {st.shown_path(d.get('student', ''))}"
    if n == "env" and d:
        return d.get("image", "")
    if n == "tasks" and d:
        return f"{d.get('images')} package images, {d.get('tasks')} tasks ({d.get('heldout')} held out)"
    return ""


def format_summary(s: dict) -> str:
    lines = [f"{'stage':<13s} {'status':<8s} {'wall s':>7s}  result"]
    for r in s["stages"]:
        took = f"{r['seconds']:7.1f}"
        extra = f" (first run {r['first_seconds']:.0f}s)" if r["status"] == "skipped" and r["first_seconds"] else ""
        lines.append(f"{r['name']:<13s} {r['status']:<8s} {took}  {_stage_line(r)}{extra}")
    lines.append(f"{'total':<13s} {'':<8s} {s['total_seconds']:7.1f}")
    sr, pr, ev = s["step_reward"], s["parse_rate"], s["eval"]

    def num(x, fmt):
        return "-" if x is None else format(x, fmt)

    lo, hi = (ev.get("ci95") or [0.0, 1.0])
    params = (s.get("student") or {}).get("parameters") or 0
    rows = [("", "before training", "after training"),
            (f"step reward ({sr.get('examples')} validation steps)", num(sr["before"], "+.3f"), num(sr["after"], "+.3f")),
            ("parse rate (validation)", num(pr["before"] and 100 * pr["before"], ".1f") + "%",
             num(pr["after"] and 100 * pr["after"], ".1f") + "%")]
    width = max(len(r[0]) for r in rows) + 2
    lines += [""] + [f"{a:<{width}s}{b:>16s}{c:>16s}" for a, b, c in rows]
    lines += [f"{'resolved (held-out tasks)':<{width}s}{ev.get('resolved')}/{ev.get('episodes')} = "
              f"{100 * (ev.get('resolved_rate') or 0):.1f}% (95% CI {100 * lo:.1f}-{100 * hi:.1f}%)",
              f"{'mean steps per episode':<{width}s}{num(ev.get('mean_steps'), '.1f')}",
              f"{'report':<{width}s}{st.shown_path(s['report'])} (open it in any browser)", "",
              f"note: the student is a {params / 1e6:.1f}M-parameter model trained for minutes on a CPU; it is not "
              "expected to resolve tasks (0 resolved is the honest result). The step reward before/after training "
              "is what to watch; the same commands train a Qwen2.5-Coder-class model on a GPU (docs/demo.md)."]
    return "\n".join(lines)
