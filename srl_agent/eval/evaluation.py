"""Evaluation runs: the student as an agent on many tasks in parallel, resumable, summarised with intervals.

The run directory is the interface (SWE-bench style): `config.json`, one folder per episode with
`trace.json` and `report.json` (written last: a folder with a report is done and is skipped on resume, except
after an infrastructure failure, which is retried),
`summary.json` and `predictions.jsonl` (SWE-bench's format). With one sample per task an episode's folder is
`<instance_id>/`; with k > 1 it is `<instance_id>/sample_<j>/`.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from srl_agent.eval.agent import Agent, AgentConfig
from srl_agent.errors import ConfigError, DockerUnavailableError, InputError, SRLError
from srl_agent.policy.base import Policy
from srl_agent.runner import StopRequest, done_unless_error, run_units
from srl_agent.task import Task
from srl_agent.trajectory.to_trace import annotate
from srl_agent.traces.schema import Trace, write_json

log = logging.getLogger(__name__)
CONFIG_SCHEMA = "srl-eval-config/1"
REPORT_SCHEMA = "srl-eval-report/1"
SUMMARY_SCHEMA = "srl-eval-summary/1"


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial rate (sound at 0 and n successes, unlike the normal one)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def episode_dir(run_dir: Path, instance_id: str, sample: int, samples: int) -> Path:
    base = Path(run_dir) / instance_id.replace("/", "__")
    return base if samples == 1 else base / f"sample_{sample}"


def is_done(folder: Path) -> bool:
    """An episode with a report is done, unless it ended in an infrastructure failure: those are retried."""
    path = folder / "report.json"
    if not path.is_file():
        return False
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    # grade_status is None when the run does not grade: such an episode is done too
    return done_unless_error(report.get("grade_status") or "UNGRADED") and report.get("stop_reason") != "sandbox_error"


def episode_report(trace: Trace) -> dict:
    grade = trace.grade
    return {"schema": REPORT_SCHEMA, "instance_id": trace.instance_id, "sample": trace.sample,
            "resolved": bool(trace.resolved), "status": trace.status, "grade_status": grade and grade.status,
            "stop_reason": trace.stop_reason, "steps": len(trace.steps), "format_errors": trace.format_errors,
            "wall_seconds": trace.wall_seconds, "rewards": [s.reward for s in trace.steps if s.reward is not None],
            "grade": grade and grade.to_dict()}


def _check_config(run_dir: Path, record: dict) -> None:
    path = run_dir / "config.json"
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        for key in ("model", "policy", "tasks", "samples"):
            if key in record and old.get(key) != record.get(key):
                raise ConfigError(f"{run_dir} holds a run with {key}={old.get(key)!r}, not {record[key]!r}: "
                                  "pick another -o directory, or delete it to start over")
        return
    write_json(path, {"schema": CONFIG_SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      **record})


@dataclass
class _EvalRun:
    """What every episode of one `evaluate` call shares (the per-task worker reads it)."""

    policy: Policy
    run_dir: Path
    samples: int
    agent_config: AgentConfig
    sandbox_factory: Callable
    grader: Callable | None
    backend: str
    expert: dict[str, list[str]]
    prefixes: dict[str, Sequence]
    stop: StopRequest | None
    bar: Any = None
    resolved: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run_task(self, task: Task, pending: list[int]) -> None:
        """The task's pending samples in one sandbox, reset between them; each episode's folder written when done."""
        if self.grader is None and self.backend == "local":  # its fresh grading container starts meanwhile
            from srl_agent.grading_run import prepare

            prepare(task)
        with self.sandbox_factory(task) as sandbox:
            for n, j in enumerate(pending):
                if n:
                    sandbox.reset()
                if self.stop is not None and self.stop():
                    return
                trace = Agent(self.policy, sandbox, self.agent_config, grader=self.grader, should_stop=self.stop,
                              prefix=self.prefixes.get(task.instance_id, ())).run(task)
                if trace.stop_reason == "interrupted":
                    return
                self.write_episode(task, j, trace)

    def write_episode(self, task: Task, sample: int, trace: Trace) -> None:
        trace.sample = sample
        annotate(trace, self.expert.get(task.instance_id))
        folder = episode_dir(self.run_dir, task.instance_id, sample, self.samples)
        trace.write(folder / "trace.json")
        write_json(folder / "report.json", episode_report(trace))  # last: the folder is done
        with self.lock:
            self.resolved += bool(trace.resolved)
            self.bar.update(1)
            self.bar.set_postfix(resolved=self.resolved)


def evaluate(tasks: Sequence[Task], policy: Policy, run_dir: str | Path, *, agent_config: AgentConfig | None = None,
             samples: int = 1, workers: int = 1, sandbox_factory: Callable | None = None,
             grader: Callable | None = None, expert: dict[str, list[str]] | None = None,
             record: dict | None = None, progress: bool = True, backend: str = "local",
             address: str | None = None, prefixes: dict[str, Sequence] | None = None,
             stop: StopRequest | None = None) -> dict:
    """Run every (task, sample) episode not already done, then write summary.json and predictions.jsonl.

    `sandbox_factory(task)` is a context manager giving a sandbox at the task's start state (default:
    `srl_agent.tasks.task_sandbox` on `backend` "local", or in Ray actors on the cluster at `address` for
    "ray"; see srl_agent.tasks.backends); the samples of a task share one sandbox, reset between them.
    `prefixes[instance_id]`: expert steps to replay before the policy's first call (expert-prefix episodes). Episodes
    that could not start (sandbox or image failures) write no report, so rerunning the command retries them.
    Once `stop` is set (the first Ctrl-C) no episode starts and running ones end before their next step without
    a report (a rerun plays them); summary.json then counts what finished and has `"interrupted": true`.
    """
    run_dir = _prepare_run(tasks, Path(run_dir), samples, workers, record)
    if sandbox_factory is None:
        from srl_agent.tasks.backends import task_sandbox_factory

        sandbox_factory = task_sandbox_factory(backend, address=address, size=workers)
    todo = _pending(tasks, run_dir, samples)
    run = _EvalRun(policy, run_dir, samples, agent_config or AgentConfig(), sandbox_factory, grader, backend,
                   expert or {}, prefixes or {}, stop)
    run.bar = _progress(sum(len(js) for _, js in todo), progress)
    try:
        outcome = run_units(todo, lambda unit: run.run_task(*unit), workers=workers, stop=stop,
                            fatal=lambda exc: isinstance(exc, DockerUnavailableError) or not isinstance(exc, SRLError))
    finally:
        run.bar.close()
    failures = [f"{task.instance_id}: {exc}" for (task, _), exc in outcome.failed]
    return _finish_run(run_dir, failures, outcome.interrupted, samples=samples,
                       model=(record or {}).get("model", getattr(policy, "name", "")))


def _prepare_run(tasks: Sequence[Task], run_dir: Path, samples: int, workers: int, record: dict | None) -> Path:
    """Check the arguments and the run directory (a resumed run must be the same run); record the config."""
    if samples < 1 or workers < 1:
        raise ConfigError("--samples and --workers must be >= 1")
    ids = [t.instance_id for t in tasks]
    if len(set(ids)) != len(ids):
        raise InputError("the task list has duplicate instance_ids")
    run_dir.mkdir(parents=True, exist_ok=True)
    _check_config(run_dir, {"samples": samples, **(record or {})})
    return run_dir


def _pending(tasks: Sequence[Task], run_dir: Path, samples: int) -> list[tuple[Task, list[int]]]:
    """(task, the samples not done yet) for every task with something left to play."""
    todo = [(t, [j for j in range(samples) if not is_done(episode_dir(run_dir, t.instance_id, j, samples))])
            for t in tasks]
    return [(t, js) for t, js in todo if js]


def _finish_run(run_dir: Path, failures: list[str], interrupted: bool, *, samples: int, model: str) -> dict:
    """errors.log for the tasks that could not run, then summary.json and predictions.jsonl."""
    if failures:
        with open(run_dir / "errors.log", "a", encoding="utf-8") as fh:
            fh.write("".join(f"{line}\n" for line in failures))
        log.warning("%d task(s) could not run (see %s); rerun the same command to retry them", len(failures),
                    run_dir / "errors.log")
    summary = summarize(run_dir, samples=samples, model=model)
    summary["not_run"] = len(failures)
    if interrupted:
        summary["interrupted"] = True
    write_json(run_dir / "summary.json", summary)
    write_predictions(run_dir, samples=samples, model=summary["model"])
    return summary


def _progress(total: int, enabled: bool, desc: str = "eval", unit: str = "episode"):
    from srl_agent.progress import progress

    return progress(desc, total=total, unit=unit, enabled=enabled, leave=True)


def read_reports(run_dir: str | Path) -> list[dict]:
    reports = []
    for path in sorted(Path(run_dir).rglob("report.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema") == REPORT_SCHEMA:
            reports.append(data)
    return sorted(reports, key=lambda r: (r["instance_id"], r["sample"]))


def summarize(run_dir: str | Path, *, samples: int = 1, model: str = "") -> dict:
    """The run's numbers from its reports: resolved rate (all episodes) with a 95% Wilson interval,
    pass@k per task averaged over tasks (k > 1), mean steps, format-error rate (per step), stop reasons."""
    reports = read_reports(run_dir)
    n = len(reports)
    res = sum(r["resolved"] for r in reports)
    steps = sum(r["steps"] for r in reports)
    per_task: dict[str, list[bool]] = {}
    for r in reports:
        per_task.setdefault(r["instance_id"], []).append(bool(r["resolved"]))
    rewards = [x for r in reports for x in r.get("rewards") or []]
    summary = {
        "schema": SUMMARY_SCHEMA, "model": model, "tasks": len(per_task), "samples": samples, "episodes": n,
        "resolved": res, "resolved_rate": res / n if n else 0.0, "ci95": list(wilson_interval(res, n)),
        "mean_steps": steps / n if n else 0.0,
        "format_error_rate": sum(r["format_errors"] for r in reports) / steps if steps else 0.0,
        "stop_reasons": _count(r["stop_reason"] for r in reports),
        "statuses": _count(r["status"] for r in reports),
        "mean_step_reward": sum(rewards) / len(rewards) if rewards else None,
        "per_task": {iid: {"samples": len(v), "resolved": sum(v)} for iid, v in per_task.items()},
    }
    if samples > 1 and per_task:
        ks = sorted({1, samples} | {k for k in (2, 4, 8, 16, 32) if k < samples})
        summary["pass_at_k"] = {
            str(k): sum(pass_at_k(len(v), sum(v), k) for v in per_task.values() if len(v) >= k)
            / max(1, sum(len(v) >= k for v in per_task.values())) for k in ks}
    return summary


def _count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def write_predictions(run_dir: str | Path, *, samples: int = 1, model: str = "") -> Path:
    """predictions.jsonl in SWE-bench's format (instance_id, model_name_or_path, model_patch), sample 0."""
    run_dir = Path(run_dir)
    lines = []
    for trace in load_traces(run_dir):
        if trace.sample == 0:
            lines.append(json.dumps({"instance_id": trace.instance_id, "model_name_or_path": model or trace.model,
                                     "model_patch": trace.patch}, ensure_ascii=False))
    path = run_dir / "predictions.jsonl"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def load_traces(run_dir: str | Path) -> list[Trace]:
    traces = [Trace.read(p) for p in Path(run_dir).rglob("trace.json")]
    return sorted(traces, key=lambda t: (t.instance_id, t.sample))


def load_run(run_dir: str | Path) -> tuple[list[Trace], dict | None]:
    """A run's traces and its summary (None when the run has not been summarised yet)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such run directory (make one with `srl eval ... -o {run_dir}`)")
    traces = load_traces(run_dir)
    if not traces:
        raise InputError(f"{run_dir}: no trace.json files below it; is this an `srl eval` run directory?")
    path = run_dir / "summary.json"
    summary = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    return traces, summary


def config_record(**kw) -> dict:
    """What config.json stores about a run besides the sample count (plain values only)."""
    agent = kw.pop("agent", None)
    if agent is not None:
        kw["agent"] = {k: v for k, v in asdict(agent).items() if k != "prompt"}
        kw["agent"]["prompt"] = {k: v for k, v in asdict(agent.prompt).items() if k != "system_prompt"}
    return kw


def _load_step_examples(data_dir: str | Path, split: str, limit: int | None):
    from datasets import DatasetDict, load_from_disk

    try:
        data = load_from_disk(str(data_dir))
    except (FileNotFoundError, ValueError) as exc:
        raise InputError(f"{data_dir}: not a step-example dataset ({exc}); make one with `srl traj split`") from None
    if isinstance(data, DatasetDict):
        if split not in data:
            raise InputError(f"{data_dir} has no split {split!r} (it has: {', '.join(data)}); pass --split")
        data = data[split]
    from srl_agent.step_example import check_steps

    check_steps(data, f"{data_dir} [{split}]")
    if limit is not None:
        data = data.select(range(min(limit, len(data))))
    if len(data) == 0:
        raise InputError(f"{data_dir} [{split}]: no step examples")
    return data


def step_result(index: int, row: dict, completion: str):
    """Score one completion against the row's expert action; the row is a `srl traj split` example."""
    from srl_agent.actions import parse_completion
    from srl_agent.reward import step_reward
    from srl_agent.traces.step_results import StepResult

    parsed = parse_completion(completion)
    action = parsed.action
    return StepResult(index=index, prompt=[dict(m) for m in row["prompt"]], completion=completion,
                      expert_action=row["expert_action"], reward=float(step_reward(completion, row["expert_action"])),
                      think=parsed.think, action=action.render() if action else None,
                      action_tool=action.tool if action else None, format_error=parsed.error,
                      instance_id=row.get("instance_id") or "", step_index=row.get("step_index"),
                      num_steps=row.get("num_steps"), tool=row.get("tool"),
                      expert_thought=row.get("expert_thought") or "", source=row.get("source") or "")


def evaluate_steps(policy: Policy, data_dir: str | Path, *, split: str = "validation", limit: int | None = None,
                   batch_size: int = 8, progress: bool = True, examples_out: str | Path | None = None) -> dict:
    """The paper's validation metric: mean step reward (and parse rate) of the policy on step examples.

    With `examples_out`, every example's prompt, completion, parsed action (or format error), expert action
    and reward go to that JSONL file as they are scored (StepResult lines), so a stopped run keeps them.
    """
    from srl_agent.policy.base import generate_batch

    data = _load_step_examples(data_dir, split, limit)
    bar = _progress(len(data), progress, "eval-steps", "example")
    by_tool: dict[str, list[tuple[float, bool]]] = {}
    out = None
    if examples_out is not None:
        Path(examples_out).parent.mkdir(parents=True, exist_ok=True)
        out = open(examples_out, "w", encoding="utf-8")
    try:
        for start in range(0, len(data), max(1, batch_size)):
            rows = data[start: start + batch_size]
            outputs = generate_batch(policy, rows["prompt"])
            for j, completion in enumerate(outputs):
                result = step_result(start + j, {k: v[j] for k, v in rows.items()}, completion)
                by_tool.setdefault(result.tool or "?", []).append((result.reward, result.format_error is None))
                if out is not None:
                    out.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
            if out is not None:
                out.flush()
            bar.update(len(outputs))
    finally:
        bar.close()
        if out is not None:
            out.close()
    return _steps_summary(policy, data_dir, split, by_tool)


def _steps_summary(policy: Policy, data_dir, split: str, by_tool: dict[str, list[tuple[float, bool]]]) -> dict:
    from srl_agent.traces.step_results import STEPS_SUMMARY_SCHEMA

    scores = [x for v in by_tool.values() for x in v]

    def stats(v: list[tuple[float, bool]]) -> dict:
        n = len(v)
        return {"n": n, "mean_reward": sum(r for r, _ in v) / n, "parse_rate": sum(ok for _, ok in v) / n}

    return {"schema": STEPS_SUMMARY_SCHEMA, "model": getattr(policy, "name", ""), "data": str(data_dir),
            "split": split, "examples": len(scores), **{k: v for k, v in stats(scores).items() if k != "n"},
            "by_tool": {k: stats(v) for k, v in sorted(by_tool.items())}}
