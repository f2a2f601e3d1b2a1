"""`srl traj replay`: re-execute canonical expert trajectories in a sandbox of their task, compare the fresh
observations with the recorded ones, grade the final patch, and keep the verified (resolving) subset."""

from __future__ import annotations

import json
import re
import threading
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from srl_agent.actions import EDITOR, KNOWN_TOOLS, SUBMIT
from srl_agent.errors import InputError, SandboxError
from srl_agent.runner import Interrupted, StopRequest, atomic_write, done_unless_error, run_units
from srl_agent.task import Task
from srl_agent.trajectory.schema import SCHEMA, Step, Trajectory, read_trajectories, write_trajectories

REPORT_SCHEMA = "srl-replay/1"
UNKNOWN_TASK = "UNKNOWN_TASK"
MAX_COMPARE_CHARS = 20_000  # similarity is quadratic in the worst case; longer observations are compared by prefix

_VOLATILE = [
    (re.compile(r"\x1b\[[0-9;?]*[A-Za-z]"), ""),                                # ANSI colours
    (re.compile(r"0x[0-9a-fA-F]{6,}"), "0xADDR"),                               # object addresses
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:[+-]\d\d:?\d\d|Z)?"), "DATETIME"),
    (re.compile(r"\b\d\d:\d\d(?::\d\d(?:\.\d+)?)?\b"), "TIME"),                # also `ls -l` times
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:s|ms|us|sec|secs|seconds)\b"), "DURATION"),  # "in 0.22s", "1.3 seconds"
    (re.compile(r"^index [0-9a-f]{7,}\.\.[0-9a-f]{7,}", re.M), "index HASH..HASH"),  # blob ids in diffs
    (re.compile(r"/tmp/(?:tmp|pytest-of-)[\w.-]+"), "/tmp/TMP"),
    (re.compile(r"[ \t]+$", re.M), ""),
]
_EDITOR_ERROR = re.compile(r"^(Error|ERROR|No replacement was performed|The path .* (does not exist|is not an absolute)|"
                           r"Invalid `|File already exists|Parameter `|No edit history|Unrecognized command)", re.M)


def normalize_observation(text: str) -> str:
    """The observation with what changes between runs (timings, addresses, dates, blob ids, temp names) masked."""
    for pattern, repl in _VOLATILE:
        text = pattern.sub(repl, text)
    return text.strip()


def observation_similarity(recorded: str, fresh: str) -> float:
    """difflib's ratio (2M/T, as the step reward) of the normalised observations; 1.0 when both are empty."""
    a, b = normalize_observation(recorded)[:MAX_COMPARE_CHARS], normalize_observation(fresh)[:MAX_COMPARE_CHARS]
    if a == b:
        return 1.0
    try:
        from cydifflib import SequenceMatcher
    except ImportError:  # cydifflib gives difflib's numbers, faster; difflib is the fallback
        from difflib import SequenceMatcher
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


@dataclass
class StepReplay:
    index: int
    tool: str
    exit_code: int | None
    recorded_exit_code: int | None
    similarity: float | None
    failed: bool = False
    skipped: bool = False  # a tool the sandbox does not have (e.g. OpenHands' `think`): not executed


@dataclass
class ReplayResult:
    """What replaying one trajectory showed. `status` is the grade (FULL / PARTIAL / NO / ERROR) or UNKNOWN_TASK."""

    index: int
    instance_id: str
    source: dict
    status: str
    steps: int = 0
    steps_executed: int = 0
    steps_failed: int = 0
    failed_steps: list[int] = field(default_factory=list)
    observation_similarity: float | None = None
    min_similarity: float | None = None
    resolved: bool = False
    recorded_resolved: bool | None = None
    patch_matches_recorded: bool | None = None
    infra_error: str | None = None
    error: str | None = None
    duration: float = 0.0
    step_details: list[StepReplay] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"schema": REPORT_SCHEMA, **asdict(self)}

    @staticmethod
    def from_dict(d: dict) -> "ReplayResult":
        known = set(ReplayResult.__dataclass_fields__)
        kw = {k: v for k, v in d.items() if k in known}
        kw["step_details"] = [StepReplay(**s) for s in d.get("step_details") or []]
        return ReplayResult(**kw)


@dataclass
class ReplaySummary:
    trajectories: int = 0
    replayed: int = 0
    resumed: int = 0
    resolved: int = 0
    unknown_task: int = 0
    infra_errors: int = 0
    steps: int = 0
    steps_executed: int = 0
    steps_failed: int = 0
    mean_similarity: float | None = None
    kept: int | None = None
    seconds: float = 0.0
    interrupted: bool = False  # stopped by Ctrl-C: `not_replayed` trajectories are left for a rerun
    not_replayed: int = 0

    def line(self) -> str:
        sim = "-" if self.mean_similarity is None else f"{self.mean_similarity:.3f}"
        return (f"{self.trajectories} trajectories: {self.resolved} resolved, {self.unknown_task} for unknown tasks, "
                f"{self.infra_errors} infrastructure errors; {self.steps_executed} steps executed, "
                f"{self.steps_failed} failed; mean observation similarity {sim}")


def _step_failed(step: Step, code: int | None, timed_out: bool) -> bool:
    if step.action.tool == SUBMIT:
        return False
    if timed_out:
        return True
    if code == 0:
        return False
    if step.exit_code == 0:
        return True
    # Imported editor calls often carry no exit code: an error now counts unless the recording was one too.
    return step.exit_code is None and step.action.tool == EDITOR and not _EDITOR_ERROR.search(step.observation)


def replay_trajectory(traj: Trajectory, task: Task, sb, index: int = 0, *, step_timeout: float = 120.0,
                      grade_timeout: float = 900.0, stop: StopRequest | None = None
                      ) -> tuple[ReplayResult, Trajectory | None]:
    """Run every step of `traj` in `sb` (at the task's start state), then grade the final patch.

    Returns the result and, when it resolves, the trajectory with the fresh observations (else None).
    Raises Interrupted before the next step once `stop` is set."""
    from srl_agent.grading import grade_patch

    t0 = time.perf_counter()
    res = ReplayResult(index, task.instance_id, traj.source.to_dict(), "ERROR", steps=len(traj.steps),
                       recorded_resolved=traj.resolved)
    fresh: list[Step] = []
    patch = None
    try:
        for k, step in enumerate(traj.steps):
            if stop is not None and stop():
                raise Interrupted(f"replay of trajectory {index} stopped at step {k}")
            if step.action.tool not in KNOWN_TOOLS:
                res.step_details.append(StepReplay(k, step.action.tool, None, step.exit_code, None, skipped=True))
                fresh.append(step)
                continue
            obs = sb.execute(step.action, timeout=step_timeout)
            sim = observation_similarity(step.observation, obs.output)
            failed = _step_failed(step, obs.exit_code, obs.timed_out)
            res.step_details.append(StepReplay(k, step.action.tool, obs.exit_code, step.exit_code, round(sim, 4), failed))
            fresh.append(Step(step.thought, step.action, obs.output, obs.exit_code))
            if step.action.tool == SUBMIT:
                patch = obs.output
                break  # the episode ends at submit, as in the agent loop
        if patch is None:
            patch = sb.diff()
    except SandboxError as exc:
        res.infra_error = f"{type(exc).__name__}: {exc}"
    _tally(res)
    if res.infra_error is None:
        grade = grade_patch(task, patch, timeout=grade_timeout)  # in a fresh container of the task image
        res.status, res.resolved, res.infra_error = grade.status, grade.resolved, grade.infra_error
        if traj.patch is not None:
            res.patch_matches_recorded = normalize_observation(traj.patch) == normalize_observation(patch)
    res.duration = round(time.perf_counter() - t0, 3)
    if not res.resolved:
        return res, None
    meta = dict(traj.meta)
    meta["replay"] = {"index": index, "status": res.status, "observation_similarity": res.observation_similarity,
                      "steps_failed": res.steps_failed}
    return res, Trajectory(task=traj.task, steps=fresh, source=traj.source, resolved=True, patch=patch, meta=meta)


def _tally(res: ReplayResult) -> None:
    run = [s for s in res.step_details if not s.skipped]
    res.steps_executed = len(run)
    res.failed_steps = [s.index for s in run if s.failed]
    res.steps_failed = len(res.failed_steps)
    sims = [s.similarity for s in run if s.similarity is not None]
    res.observation_similarity = round(sum(sims) / len(sims), 4) if sims else None
    res.min_similarity = min(sims) if sims else None


def _replay_group(task: Task, items: list[tuple[int, Trajectory]], *, step_timeout: float, grade_timeout: float,
                  done: Callable[[ReplayResult, Trajectory | None], None], stop: StopRequest | None = None) -> None:
    """Replay every trajectory of one task in one sandbox (reset in between); a stop request ends it within a
    step, leaving the trajectory in progress unreported (so a rerun replays it)."""
    from srl_agent.grading_run import prepare
    from srl_agent.tasks import task_sandbox

    prepare(task)
    left = list(items)
    try:
        with task_sandbox(task) as sb:
            while left and not (stop and stop()):
                i, traj = left[0]
                res, fresh = replay_trajectory(traj, task, sb, i, step_timeout=step_timeout,
                                               grade_timeout=grade_timeout, stop=stop)
                left.pop(0)
                done(res, fresh)
                if left:
                    sb.reset()
    except Interrupted:
        return
    except SandboxError as exc:
        for i, traj in left:
            done(ReplayResult(i, task.instance_id, traj.source.to_dict(), "ERROR", steps=len(traj.steps),
                              recorded_resolved=traj.resolved, infra_error=f"could not start the task's sandbox: {exc}"),
                 None)


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by an interrupted run: that trajectory runs again
    return out


def _load_kept(keep_resolved: Path, partial: Path) -> dict[int, Trajectory]:
    """Verified trajectories of an earlier run: the finished (or interrupted) output, then what was staged."""
    kept: dict[int, Trajectory] = {}
    for d in _read_jsonl(keep_resolved):
        idx = ((d.get("meta") or {}).get("replay") or {}).get("index")
        if isinstance(idx, int) and d.get("schema") == SCHEMA:
            kept[idx] = Trajectory.from_dict(d)
    kept.update({d["index"]: Trajectory.from_dict(d["trajectory"]) for d in _read_jsonl(partial)})
    return kept


def _load_results(output: Path, trajs: list[Trajectory], kept: dict[int, Trajectory] | None) -> dict[int, ReplayResult]:
    """Results of an earlier run that count as done (the runner's rule: done unless ERROR); a resolved one
    counts only when its verified trajectory is kept too (with --keep-resolved)."""
    results: dict[int, ReplayResult] = {}
    for d in _read_jsonl(output):
        if d.get("schema") != REPORT_SCHEMA:
            raise InputError(f"{output}: not a replay report (schema {d.get('schema')!r}); choose another -o")
        r = ReplayResult.from_dict(d)
        ok = (r.index < len(trajs) and trajs[r.index].task.instance_id == r.instance_id
              and done_unless_error(r.status) and (not r.resolved or kept is None or r.index in kept))
        if ok:
            results[r.index] = r
    return results


def _pending_groups(trajs: list[Trajectory], results: dict[int, ReplayResult], by_id: dict[str, Task],
                    suite_name: str) -> dict[str, list[tuple[int, Trajectory]]]:
    """The trajectories still to replay, by task; those of unknown tasks get an UNKNOWN_TASK result instead."""
    groups: dict[str, list[tuple[int, Trajectory]]] = {}
    for i, traj in enumerate(trajs):
        if i in results:
            continue
        iid = traj.task.instance_id
        if iid not in by_id:
            results[i] = ReplayResult(i, iid, traj.source.to_dict(), UNKNOWN_TASK, steps=len(traj.steps),
                                      recorded_resolved=traj.resolved,
                                      error=f"task {iid!r} is not in {suite_name}; replay it with --tasks naming "
                                            "the suite (or tasks file) that has it")
            continue
        groups.setdefault(iid, []).append((i, traj))
    return groups


def replay_file(trajectories: str | Path, tasks: list[Task], output: str | Path, *, suite_name: str = "the suite",
                keep_resolved: str | Path | None = None, workers: int = 2, step_timeout: float = 120.0,
                grade_timeout: float = 900.0, progress: Callable[[int], object] | None = None,
                stop: StopRequest | None = None) -> ReplaySummary:
    """Replay every trajectory in `trajectories` against `tasks`; write one ReplayResult per line to `output`.

    Resumable: results already in `output` (not infrastructure errors) are kept and not replayed again; with
    `keep_resolved`, verified trajectories are staged in `<keep_resolved>.partial` and written to `keep_resolved`
    at the end, also when `stop` ended the run early (`summary.interrupted`)."""
    t0 = time.perf_counter()
    output = Path(output)
    by_id = {t.instance_id: t for t in tasks}
    trajs = list(read_trajectories(trajectories))
    partial = Path(str(keep_resolved) + ".partial") if keep_resolved else None
    kept = _load_kept(Path(keep_resolved), partial) if partial else None
    results = _load_results(output, trajs, kept)
    summary = ReplaySummary(trajectories=len(trajs), resumed=len(results))
    groups = _pending_groups(trajs, results, by_id, suite_name)
    if progress:
        progress(len(results))
    output.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as files:
        report = files.enter_context(open(output, "a", encoding="utf-8"))
        stage = files.enter_context(open(partial, "a", encoding="utf-8")) if partial else None
        for r in sorted(results.values(), key=lambda r: r.index):
            if r.status == UNKNOWN_TASK:
                report.write(json.dumps(r.to_dict()) + "\n")
        lock = threading.Lock()

        def done(res: ReplayResult, fresh: Trajectory | None) -> None:
            with lock:
                results[res.index] = res
                summary.replayed += 1
                report.write(json.dumps(res.to_dict()) + "\n")
                report.flush()
                if stage is not None and fresh is not None:
                    kept[res.index] = fresh
                    stage.write(json.dumps({"index": res.index, "trajectory": fresh.to_dict()}) + "\n")
                    stage.flush()
                if progress:
                    progress(1)

        outcome = run_units(groups.items(), lambda g: _replay_group(by_id[g[0]], g[1], step_timeout=step_timeout,
                                                                     grade_timeout=grade_timeout, done=done, stop=stop),
                            workers=workers, stop=stop)
    ordered = [results[i] for i in sorted(results)]
    # one line per trajectory, in input order (appends of a resumed run folded in)
    atomic_write(output, "".join(json.dumps(r.to_dict()) + "\n" for r in ordered))
    if partial:
        summary.kept = write_trajectories([kept[i] for i in sorted(kept) if i in results and results[i].resolved],
                                          keep_resolved)
        partial.unlink(missing_ok=True)
    _summarize(summary, ordered)
    summary.interrupted = outcome.interrupted
    summary.not_replayed = len(trajs) - len(results)
    summary.seconds = time.perf_counter() - t0
    return summary


def _summarize(s: ReplaySummary, results: list[ReplayResult]) -> None:
    s.resolved = sum(r.resolved for r in results)
    s.unknown_task = sum(r.status == UNKNOWN_TASK for r in results)
    s.infra_errors = sum(r.status == "ERROR" for r in results)
    s.steps = sum(r.steps for r in results if r.status != UNKNOWN_TASK)
    s.steps_executed = sum(r.steps_executed for r in results)
    s.steps_failed = sum(r.steps_failed for r in results)
    sims = [r.observation_similarity for r in results if r.observation_similarity is not None]
    s.mean_similarity = round(sum(sims) / len(sims), 4) if sims else None
