"""`srl traj generate`: a scripted expert that knows the gold patch and works like a careful agent, every action
executed in the task's sandbox (real observations); only trajectories whose submitted patch resolves are written."""

from __future__ import annotations

import random
import re
import shlex
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from srl_agent.actions import Action
from srl_agent.errors import SandboxError
from srl_agent.task import Task
from srl_agent.trajectory.expert_phrases import say
from srl_agent.trajectory.expert_script import (ExpertScriptError, Hunk, edits_for_file, enclosing_symbol,
                                                example_script, module_imports, parse_issue, parse_patch,
                                                pytest_script, test_body_script)
from srl_agent.trajectory.schema import Source, Step, Trajectory

FORMAT = "srl-expert"
PROBE_DIR = "/tmp/.srl_probe"
REPRO_PATHS = ("reproduce_issue.py", "repro.py", "reproduce_bug.py", "/tmp/repro_{symbol}.py", "/tmp/check_{symbol}.py")


@dataclass
class PlannedStep:
    """A step the expert will take; `expect` is the exit status it must see ("ok", "fail" or "any")."""

    thought: str
    action: Action
    expect: str = "any"


@dataclass
class GenerateFailure:
    instance_id: str
    attempt: int
    reason: str

    def to_dict(self) -> dict:
        return {"instance_id": self.instance_id, "attempt": self.attempt, "reason": self.reason}


@dataclass
class GenerateSummary:
    tasks: int = 0
    written: int = 0
    steps: int = 0
    seconds: float = 0.0
    failures: list[GenerateFailure] = field(default_factory=list)


@dataclass
class _Facts:
    """What the expert found out in its hidden preparation (the start state is restored afterwards)."""

    hunks: list[Hunk]
    buggy: dict[str, str]
    edits: dict[str, list[tuple[str, str]]]
    test_files: list[str]
    repro: str
    repro_kind: str
    grep: str


def _run(sb, cmd: str, timeout: float = 300):
    return sb.run(cmd, timeout=timeout)


def _test_files(task: Task) -> list[str]:
    files = sorted({t.split("::")[0] for t in task.fail_to_pass if "::" in t})
    if not files:
        raise ExpertScriptError("FAIL_TO_PASS names no test file")
    return files


def _packages(task: Task, hunks: list[Hunk]) -> tuple[str, ...]:
    names = {h.path.split("/")[0].removesuffix(".py") for h in hunks}
    pkg = str(task.extra.get("package") or task.repo or "")
    names.update({pkg.replace("-", "_"), pkg.split("/")[-1].replace("-", "_")})
    return tuple(sorted(n for n in names if n))


def _grep_command(sb, task: Task, symbol: str, rng: random.Random, want_file: str) -> str:
    src = want_file.split("/")[0] if "/" in want_file else "."
    cands = [rng.choice([f'grep -rnE "(def|class) {symbol}\\b" --include="*.py" {src}',
                         f'grep -rn "def {symbol}" --include="*.py" .',
                         f"grep -rnE '^\\s*(def|class) {symbol}\\b' {src}"]),
             f'grep -rn "{symbol}" --include="*.py" {src} | head -20']
    for cmd in cands:
        obs = _run(sb, f"cd {task.workdir} && {cmd}")
        if obs.exit_code == 0 and want_file in obs.output:
            return cmd
    return cands[-1]


def _choose_repro(task: Task, sb, issue, symbol: str, hunks: list[Hunk], test_source: str, rng: random.Random
                  ) -> tuple[str, str, dict[str, str]]:
    """The first reproduction script that fails at the start state and passes once the gold patch is in
    (the issue's example, then the example with its setup, else the pytest scenario), and the gold files."""
    tests = _test_files(task)
    packages = _packages(task, hunks)
    test_dir = _abs(task, tests[0].rsplit("/", 1)[0] if "/" in tests[0] else ".")
    siblings = set(_run(sb, f"cd {test_dir} && ls *.py").output.split()) if "/" in tests[0] else set()
    siblings = {m.removesuffix(".py") for m in siblings if not m.startswith(("test_", "conftest"))}
    cands = [(example_script(issue, module_imports(test_source, packages), rng), "issue example"),
             (test_body_script(test_source, task.fail_to_pass[0], issue, packages, siblings,
                               test_dir.rstrip("/."), rng), "issue example + setup")]
    cands = [(c, k) for c, k in cands if c is not None]
    gold_patch = task.gold_patch if task.gold_patch.endswith("\n") else task.gold_patch + "\n"
    sb.write_file(f"{PROBE_DIR}/gold.patch", gold_patch)
    before = {}
    for n, (script, _) in enumerate(cands):
        sb.write_file(f"{PROBE_DIR}/c{n}.py", script)
        before[n] = _run(sb, f"cd {task.workdir} && python3 {PROBE_DIR}/c{n}.py", 120).exit_code
    applied = _run(sb, f"cd {task.workdir} && git apply {PROBE_DIR}/gold.patch")
    if applied.exit_code != 0:
        raise ExpertScriptError(f"the gold patch does not apply: {applied.output[-300:]}")
    gold = {h.path: sb.read_file(h.path) for h in hunks}
    script, kind = pytest_script(task.fail_to_pass, symbol, rng), "pytest scenario"
    for n, (cand, k) in enumerate(cands):
        if before[n] not in (0, None) and _run(sb, f"cd {task.workdir} && python3 {PROBE_DIR}/c{n}.py",
                                               120).exit_code == 0:
            return cand, k, gold
    return script, kind, gold


def prepare(task: Task, sb, rng: random.Random) -> tuple[_Facts, dict]:
    """Probe the sandbox (files, the gold state, candidate commands), then put it back at the start state."""
    if not task.gold_patch:
        raise ExpertScriptError("the task has no gold patch")
    hunks = parse_patch(task.gold_patch)
    issue = parse_issue(task.problem_statement, str(task.extra.get("package") or ""))
    paths = list(dict.fromkeys(h.path for h in hunks))
    buggy = {p: sb.read_file(p) for p in paths}
    main = hunks[0]
    helper = enclosing_symbol(buggy[main.path], main.first_changed_line)
    symbol = issue.symbol
    if not symbol or symbol in _packages(task, hunks):
        symbol = helper or main.path.rsplit("/", 1)[-1].removesuffix(".py")
    tests = _test_files(task)
    test_source = sb.read_file(tests[0])
    grep = _grep_command(sb, task, symbol, rng, main.path)
    repro_path = rng.choice(REPRO_PATHS).format(symbol=symbol.lower())
    script, kind, gold = _choose_repro(task, sb, issue, symbol, hunks, test_source, rng)
    sb.reset()
    sb.write_file(repro_path, script)
    seen = _run(sb, f"cd {task.workdir} && python3 {repro_path}", 120).output
    kinds = re.findall(r"\b([A-Z]\w*(?:Error|Exception))\b", seen)
    error_kind = kinds[-1] if kinds else issue.error_kind
    sb.reset()
    _run(sb, f"rm -rf {PROBE_DIR} /tmp/repro_* /tmp/check_* /tmp/.srl_editor_history")
    ctx = rng.choice((0, 0, 1, 2))
    edits = {p: edits_for_file(buggy[p], [h for h in hunks if h.path == p], gold[p], ctx) for p in paths}
    facts = _Facts(hunks, buggy, edits, tests, script, kind, grep)
    return facts, {"symbol": symbol, "qualified": issue.qualified, "helper": helper, "repro_path": repro_path,
                   "error_kind": error_kind, "package": task.extra.get("package") or task.repo}


def _abs(task: Task, path: str) -> str:
    return path if path.startswith("/") else f"{task.workdir.rstrip('/')}/{path}"


def _view_range(text: str, line: int, span: int, rng: random.Random, def_line: int | None) -> list[int]:
    n = len(text.split("\n"))
    start = def_line if def_line and line - def_line < 40 and rng.random() < 0.5 else line - rng.randint(4, 15)
    return [max(1, start), min(n, line + span + rng.randint(3, 14))]


def _def_line(text: str, name: str | None) -> int | None:
    if not name:
        return None
    for k, line in enumerate(text.split("\n"), 1):
        if line.lstrip().startswith((f"def {name}(", f"class {name}(", f"class {name}:", f"async def {name}(")):
            return k
    return None


def _short(s: str, n: int = 90) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 3] + "..."


def plan_steps(task: Task, facts: _Facts, f: dict, rng: random.Random) -> list[PlannedStep]:
    """The expert's steps: explore, view, reproduce, fix, rerun, test, clean up, submit (seeded variation)."""
    sym, main = f["symbol"], facts.hunks[0]
    file_abs = _abs(task, main.path)
    facts_kw = dict(symbol=sym, qualified=f["qualified"], package=f["package"], file=main.path,
                    helper=f["helper"] or sym, error_kind=f["error_kind"], tests=" ".join(facts.test_files))
    steps: list[PlannedStep] = []
    explore = rng.choice([["ls"], ["find"], ["ls", "find"], ["view_dir"], []])
    for kind in explore:
        if kind == "ls":
            cmd = rng.choice(["ls", "ls -la", f"ls {task.workdir}", "ls -F"])
            steps.append(PlannedStep(say(rng, "ls", **facts_kw), Action.bash(cmd), "ok"))
        elif kind == "find":
            cmd = rng.choice(["find . -name '*.py' -not -path '*/.*' | sort | head -60",
                              "find . -maxdepth 2 -name '*.py' | grep -v test | sort",
                              f"find {main.path.split('/')[0] if '/' in main.path else '.'} -name '*.py' | sort"])
            steps.append(PlannedStep(say(rng, "find", **facts_kw), Action.bash(cmd), "ok"))
        else:
            steps.append(PlannedStep(say(rng, "ls", **facts_kw), Action.editor("view", task.workdir), "ok"))
    steps.append(PlannedStep(say(rng, "grep_def", **facts_kw), Action.bash(facts.grep), "any"))
    repro_abs = _abs(task, f["repro_path"])
    run_cmd = rng.choice([f"python3 {f['repro_path']}", f"cd {task.workdir} && python3 {f['repro_path']}",
                          f"python3 {repro_abs}"])
    create = {"issue example": "create_repro", "issue example + setup": "create_repro_setup"}.get(
        facts.repro_kind, "create_repro_pytest")
    repro = [PlannedStep(say(rng, create, **facts_kw), Action.editor("create", repro_abs, file_text=facts.repro), "ok"),
             PlannedStep(say(rng, "run_repro_before", **facts_kw), Action.bash(run_cmd), "fail")]
    text = facts.buggy[main.path]
    line = main.first_changed_line
    def_line = _def_line(text, f["helper"])
    rng_v = _view_range(text, line, main.old_span, rng, def_line)
    kind = "view_helper" if f["helper"] and f["helper"] != sym else "view"
    view = [PlannedStep(say(rng, kind, **facts_kw, line=line, start=rng_v[0], end=rng_v[1]),
                        Action.editor("view", file_abs, view_range=f"[{rng_v[0]}, {rng_v[1]}]"), "ok")]
    if f["helper"] and f["helper"] != sym and rng.random() < 0.4:
        view.insert(0, PlannedStep(say(rng, "grep_helper", **facts_kw),
                                   Action.bash(f"grep -n \"{f['helper']}\" {main.path}"), "any"))
    repro_first = rng.random() < 0.5
    steps += repro + view if repro_first else view + repro
    if rng.random() < 0.25:
        steps.append(PlannedStep(say(rng, "tests_before", **facts_kw),
                                 Action.bash(f"python3 -m pytest -q {' '.join(facts.test_files)}"), "fail"))
    steps += _fix_steps(task, facts, rng, facts_kw)
    if rng.random() < 0.3:
        steps.append(PlannedStep(say(rng, "git_diff", **facts_kw), Action.bash("git diff"), "ok"))
    steps.append(PlannedStep(say(rng, "run_repro_after", **facts_kw), Action.bash(run_cmd), "ok"))
    steps += _test_steps(task, facts, rng, facts_kw)
    if not f["repro_path"].startswith("/tmp/"):
        cmd = rng.choice([f"rm {f['repro_path']}", f"rm -f {f['repro_path']} && git status --short",
                          f"rm {repro_abs} && git status"])
        steps.append(PlannedStep(say(rng, "cleanup", **facts_kw), Action.bash(cmd), "ok"))
    steps.append(PlannedStep(say(rng, "submit", **facts_kw), Action.submit(), "ok"))
    return steps


def _fix_steps(task: Task, facts: _Facts, rng: random.Random, kw: dict) -> list[PlannedStep]:
    out: list[PlannedStep] = []
    first = True
    for path, edits in facts.edits.items():
        hunks = [h for h in facts.hunks if h.path == path]
        for (old, new), hunk in zip(edits, hunks):
            removed = [t for tag, t in hunk.lines if tag == "-"]
            added = [t for tag, t in hunk.lines if tag == "+"]
            facts_kw = dict(kw, file=path, line=hunk.first_changed_line, reproduced=True)
            if first and removed:
                thought = say(rng, "fix", **facts_kw, old=_short(removed[0]), new=_short(added[0] if added else "nothing"))
            elif first:
                thought = say(rng, "fix_add", **facts_kw, new=_short(added[0]))
            else:
                thought = say(rng, "fix_more", **facts_kw)
            first = False
            out.append(PlannedStep(thought, Action.editor("str_replace", _abs(task, path), old_str=old, new_str=new), "ok"))
            if rng.random() < 0.25:
                ln = hunk.first_changed_line
                out.append(PlannedStep(say(rng, "view_after", **kw),
                                       Action.editor("view", _abs(task, path),
                                                     view_range=f"[{max(1, ln - 5)}, {ln + len(added) + 5}]"), "ok"))
    return out


def _test_steps(task: Task, facts: _Facts, rng: random.Random, kw: dict) -> list[PlannedStep]:
    files = " ".join(facts.test_files)
    out = []
    if rng.random() < 0.3:
        names = sorted({t.split("::")[-1].split("[")[0] for t in task.fail_to_pass})
        expr = " or ".join(names)
        out.append(PlannedStep(say(rng, "tests_targeted", **kw),
                               Action.bash(f"python3 -m pytest -q {files} -k {shlex.quote(expr)}"), "ok"))
    cmd = rng.choice([f"python3 -m pytest -q {files}", f"python3 -m pytest -q -x {files}",
                      f"python3 -m pytest -q --no-header {files}", f"python3 -m pytest {files} -q"])
    out.append(PlannedStep(say(rng, "tests_after", **kw), Action.bash(cmd), "ok"))
    return out


def _meets(expect: str, code: int | None) -> bool:
    return expect == "any" or (expect == "ok" and code == 0) or (expect == "fail" and code not in (0, None))


def expert_trajectory(task: Task, sb, seed: str, index: int = 0, *, step_timeout: float = 300.0) -> Trajectory:
    """Plan, run every step in `sb` (at the task's start state), check each step did what the expert expected,
    and grade the submitted patch. Raises ExpertScriptError when the result is not a resolving trajectory."""
    from srl_agent.grading import grade_patch

    rng = random.Random(seed)
    facts, f = prepare(task, sb, rng)
    plan = plan_steps(task, facts, f, rng)
    steps: list[Step] = []
    patch = ""
    for k, p in enumerate(plan):
        obs = sb.execute(p.action, timeout=step_timeout)
        if obs.restarted or obs.timed_out:
            raise SandboxError(f"step {k} ({p.action.tool}) {'timed out' if obs.timed_out else 'lost its shell'}")
        if not _meets(p.expect, obs.exit_code):
            raise ExpertScriptError(f"step {k} `{p.action.render()[:120]}` exited {obs.exit_code}, expected "
                                    f"{p.expect}: {obs.output[-300:]}")
        steps.append(Step(p.thought, p.action, obs.output, obs.exit_code))
        if p.action.tool == "submit":
            patch = obs.output
    grade = grade_patch(task, patch)
    if grade.status == "ERROR":
        raise SandboxError(f"grading failed: {grade.infra_error}")
    if not grade.resolved:
        fails = {k: v.get("failure", [])[:3] for k, v in grade.tests_status.items()}
        raise ExpertScriptError(f"the submitted patch grades {grade.status}, not resolved "
                                f"(applied: {grade.patch_applied} {grade.apply_error or ''}; failing: {fails})")
    meta = {"generator": "scripted-expert", "seed": seed, "repro": facts.repro_kind, "grade": grade.status}
    return Trajectory(task=task, steps=steps, source=Source(FORMAT, task.suite or "", index), resolved=True,
                      patch=patch, meta=meta)


def generate_for_task(task: Task, seeds: list[str], *, step_timeout: float = 300.0
                      ) -> list[Trajectory | GenerateFailure]:
    """One trajectory per seed, all in one sandbox of the task (reset between them)."""
    from srl_agent.tasks import task_sandbox

    out: list[Trajectory | GenerateFailure] = []
    try:
        with task_sandbox(task) as sb:
            for i, seed in enumerate(seeds):
                if i:
                    sb.reset()
                    sb.run("rm -rf /tmp/repro_* /tmp/check_* /tmp/.srl_editor_history /tmp/.srl_probe")
                try:
                    out.append(expert_trajectory(task, sb, seed, i, step_timeout=step_timeout))
                except (ExpertScriptError, SandboxError) as exc:
                    out.append(GenerateFailure(task.instance_id, i, f"{type(exc).__name__}: {exc}"))
    except SandboxError as exc:
        out += [GenerateFailure(task.instance_id, i, f"sandbox: {exc}") for i in range(len(out), len(seeds))]
    return out


def generate_trajectories(tasks: list[Task], output: str | Path, *, seed: int = 0, per_task: int = 1,
                          workers: int = 1, step_timeout: float = 300.0,
                          progress: Callable[[int], object] | None = None) -> GenerateSummary:
    """Generate `per_task` verified trajectories per task and write them (task order, then attempt) to `output`."""
    from srl_agent.trajectory.schema import write_trajectories

    t0 = time.perf_counter()
    summary = GenerateSummary(tasks=len(tasks))
    results: dict[int, list] = {}
    lock = threading.Lock()

    def one(k: int, task: Task) -> None:
        seeds = [f"{seed}:{task.instance_id}:{i}" for i in range(per_task)]
        res = generate_for_task(task, seeds, step_timeout=step_timeout)
        with lock:
            results[k] = res
            if progress:
                progress(1)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for fut in as_completed([pool.submit(one, k, t) for k, t in enumerate(tasks)]):
            fut.result()
    trajs = []
    for k in sorted(results):
        for r in results[k]:
            if isinstance(r, Trajectory):
                trajs.append(r)
            else:
                summary.failures.append(r)
    for i, t in enumerate(trajs):
        t.source = Source(FORMAT, Path(output).name, i)
    summary.written = write_trajectories(trajs, output)
    summary.steps = sum(len(t.steps) for t in trajs)
    summary.seconds = time.perf_counter() - t0
    return summary
