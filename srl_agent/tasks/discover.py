"""Task discovery (slow, run once, result committed): which mutations make 1..a few tests fail while the rest pass."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from srl_agent import pyast
from srl_agent.errors import SandboxError
from srl_agent.grading import parse_test_log
from srl_agent.task import Task
from srl_agent.tasks.images import build_package_image, task_image_tag, unpacked_source
from srl_agent.tasks.issue import (
    called_names,
    failure_section,
    leaks,
    parse_symptom,
    test_body,
    write_issue,
)
from srl_agent.tasks.mutate import Mutation, find_mutations, is_valid, sample_mutations
from srl_agent.tasks.suite import PYTEST, PackageSpec, Suite

MAX_FAIL = 3          # "1..a few" failing tests (a parametrized test counts once ...
MAX_FAIL_IDS = 30     # ... up to this many failing cases in all)
PER_FUNCTION = 2      # tasks per library function at most, so a suite spreads over the code
P2P_SAMPLE = 20       # passing tests kept per task, from the files the failing tests live in
CLEAN_RUNS = 3        # runs of the clean (= gold) state; a test whose result changes is quarantined
BATCH = 24
PASSING = ("PASSED", "XFAIL")

# Runs inside the package's container (never on the host): apply each job's file content, run the tests,
# restore, and record the log and git's diffs (the bug patch and its reverse, the gold patch).
DRIVER = r'''
import json, pathlib, subprocess, sys
jobs = json.load(open(sys.argv[1]))
cmd, out = sys.argv[3], open(sys.argv[2], "a")
for job in jobs:
    p = pathlib.Path(job["path"]) if job.get("path") else None
    orig = p.read_text() if p else None
    if p:
        p.write_text(job["content"])
    diff = subprocess.run(["git", "diff"], capture_output=True, text=True).stdout
    # with -R git swaps the prefixes too: swapping them back gives the usual a/ b/ headers
    gold = subprocess.run(["git", "diff", "-R", "--src-prefix=b/", "--dst-prefix=a/"],
                          capture_output=True, text=True).stdout
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True)
    if p:
        p.write_text(orig)
    out.write(json.dumps({"id": job["id"], "rc": r.returncode, "log": r.stdout + r.stderr,
                          "diff": diff, "gold": gold}) + "\n")
    out.flush()
'''


@dataclass
class DiscoveryStats:
    package: str
    tried: int = 0
    accepted: int = 0
    quarantined: list[str] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)


def run_jobs(image: str, jobs: list[dict], command: str, timeout: int = 120) -> dict[str, dict]:
    """Run jobs in one throw-away container (no network); returns results by job id."""
    tmp = Path(tempfile.mkdtemp(prefix="srl-discover-"))
    try:
        os.chmod(tmp, 0o777)
        (tmp / "driver.py").write_text(DRIVER)
        (tmp / "jobs.json").write_text(json.dumps(jobs))
        per_job = f"timeout -s KILL {timeout} {command}"
        proc = subprocess.run(["docker", "run", "--rm", "--network", "none", "--memory", "2g", "--label",
                               "srl-agent=1", "-v", f"{tmp}:/jobs", image, "python3", "/jobs/driver.py",
                               "/jobs/jobs.json", "/jobs/out.jsonl", per_job],
                              capture_output=True, text=True)
        out = tmp / "out.jsonl"
        results = {}
        if out.exists():
            for line in out.read_text().splitlines():
                r = json.loads(line)
                results[r["id"]] = r
        if proc.returncode != 0 and len(results) < len(jobs):
            raise SandboxError(f"discovery container failed: {proc.stderr.strip()[-1500:]}")
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _sane(test_id: str) -> bool:
    return not any(c.isspace() for c in test_id) and test_id.count("[") == test_id.count("]")


def _library_files(src: Path, spec: PackageSpec) -> list[str]:
    out = []
    for root in spec.source:
        for p in sorted((src / root).rglob("*.py")):
            rel = p.relative_to(src).as_posix()
            if "/tests/" in rel or rel.startswith(spec.tests) or rel in spec.skip_modules:
                continue
            out.append(rel)
    return out


def _public_names(src: Path, files: list[str]) -> set[str]:
    names = set()
    for rel in files:
        for node in pyast.parse((src / rel).read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                names.add(node.name)
    return names


def _function_label(code: str, m: Mutation, public: set[str], package: str) -> str:
    """The public function the report is about: the buggy one if the test calls it, else one the test calls."""
    top = (m.function or "").split(".")[0]
    calls = [c.split(".")[-1] for c in called_names(code)]
    calls = [c for c in calls if c in public]
    if top in calls or (top in public and not calls):
        return top
    return calls[0] if calls else package


def _p2p(rng: random.Random, failing: list[str], stable: list[str]) -> tuple[list[str], list[str]]:
    """PASS_TO_PASS sampled from the failing tests' files, topped up from up to 2 other files when those have
    few; returns (PASS_TO_PASS, test files to run)."""
    files = sorted({t.split("::")[0] for t in failing})
    others = sorted({t.split("::")[0] for t in stable} - set(files))
    rng.shuffle(others)

    def pool() -> list[str]:
        return sorted(t for t in stable if t.split("::")[0] in files and t not in failing and _sane(t))

    extra = 0
    while len(pool()) < P2P_SAMPLE // 2 and others and extra < 2:
        files.append(others.pop())
        extra += 1
    cands = pool()
    return sorted(rng.sample(cands, min(P2P_SAMPLE, len(cands)))), sorted(files)


def make_task(suite: Suite, spec: PackageSpec, image: str, base_commit: str, m: Mutation, result: dict,
              failing: list[str], stable: list[str], public: set[str], tests_src: dict[str, str]) -> Task | None:
    h = hashlib.sha1(m.key.encode()).hexdigest()[:8]
    iid = f"{spec.key}__{m.kind}_{h}"
    rng = random.Random(iid)
    p2p, files = _p2p(rng, failing, stable)
    symptom = parse_symptom(failure_section(result["log"], failing[0]))
    try:
        symptom.code = test_body(tests_src.get(failing[0].split("::")[0], ""), failing[0], symptom.statement)
    except SyntaxError:
        symptom.code = []
    function = _function_label("\n".join(symptom.code) or symptom.statement, m, public, spec.name)
    forbidden = [p for t in failing + p2p for p in t.replace("[", "::").split("::")] + [m.path, m.path.rsplit("/", 1)[-1]]
    forbidden = [f for f in forbidden if len(f) > 3 and f not in (function, spec.name)]
    text = write_issue(package=spec.name, version=spec.version, function=function, symptom=symptom,
                       forbidden=forbidden, seed=iid)
    if not (symptom.error or symptom.statement) or leaks(text, failing + p2p, [m.path]):
        return None
    task = Task(
        instance_id=iid, repo=spec.name, base_commit=base_commit, problem_statement=text, image=image,
        fail_to_pass=failing, pass_to_pass=p2p, test_command=f"{PYTEST} {' '.join(files)}", log_parser="pytest",
        workdir="/testbed", version=spec.version, gold_patch=result["gold"], suite=suite.name, split=spec.split,
        extra={"bug_patch": result["diff"], "package": spec.name, "mutation": m.to_dict()})
    task.image = task_image_tag(task, image)  # the start state's image (srl tasks build makes it)
    return task


def _reject_reason(status_map: dict[str, str], stable: list[str]) -> tuple[str, list[str]]:
    """('' , failing tests) for a mutant that qualifies as a task, else (why not, failing tests)."""
    failing = sorted(t for t in stable if status_map.get(t) not in PASSING)
    if not status_map:
        return "no result", failing
    if not failing:
        return "none fail", failing
    if len(failing) > MAX_FAIL_IDS or len({t.split("[")[0] for t in failing}) > MAX_FAIL:
        return "too many fail", failing
    if not all(map(_sane, failing)):
        return "odd test id", failing
    return "", failing


def _clean_state(image: str, command: str) -> tuple[list[str], list[str]]:
    """(stable passing tests, quarantined tests) from CLEAN_RUNS runs of the clean (= gold) state."""
    clean = run_jobs(image, [{"id": f"clean{i}"} for i in range(CLEAN_RUNS)], command)
    maps = [parse_test_log(r["log"]) for r in clean.values()]
    everything = set().union(*maps)
    stable = sorted(t for t in everything if all(mp.get(t) in PASSING for mp in maps))
    return stable, sorted(t for t in everything if len({mp.get(t) for mp in maps}) > 1)


@dataclass
class _Source:
    files: list[str]
    public: set[str]
    sources: dict[str, str]
    tests: dict[str, str]
    candidates: list[Mutation]


def _read_source(spec: PackageSpec) -> _Source:
    with tempfile.TemporaryDirectory(prefix="srl-src-") as tmp:
        src = unpacked_source(spec, Path(tmp))
        files = _library_files(src, spec)
        sources = {f: (src / f).read_text() for f in files}
        tests = {p.relative_to(src).as_posix(): p.read_text(errors="replace")
                 for p in src.rglob("test*.py") if p.is_file()}
        cands = [m for f in files for m in find_mutations(f, sources[f], validate=False)
                 if m.function and m.function.split(".")[-1] not in ("main", "_main")]
        return _Source(files, _public_names(src, files), sources, tests, cands)


def discover_package(suite: Suite, spec: PackageSpec, *, log=print, max_tries: int | None = None
                     ) -> tuple[list[Task], DiscoveryStats]:
    """Find spec.tasks tasks for one package, deterministically for the suite's seed."""
    stats = DiscoveryStats(spec.key)
    image = build_package_image(spec).tag
    base_commit = subprocess.run(["docker", "run", "--rm", image, "cat", "/home/agent/.srl_base_commit"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    command = f"{PYTEST} {spec.tests}"
    stable, stats.quarantined = _clean_state(image, command)
    log(f"{spec.key}: {len(stable)} stable passing tests, {len(stats.quarantined)} quarantined")
    src = _read_source(spec)
    order = sample_mutations(src.candidates, f"{suite.seed}:{spec.key}")
    tasks: list[Task] = []
    per_function: dict[str, int] = {}
    limit = max_tries or spec.tasks * 12
    i = 0

    def job(m: Mutation) -> dict:
        return {"id": m.key, "path": m.path, "content": m.apply(src.sources[m.path])}

    def count(reason: str) -> None:
        stats.rejected[reason] = stats.rejected.get(reason, 0) + 1

    while len(tasks) < spec.tasks and i < len(order) and stats.tried < limit:
        batch = []
        while len(batch) < BATCH and i < len(order):
            m, i = order[i], i + 1
            if per_function.get(f"{m.path}:{m.function}", 0) < PER_FUNCTION and is_valid(m, src.sources[m.path]):
                batch.append(m)
        stats.tried += len(batch)
        results = run_jobs(image, [job(m) for m in batch], command)
        hits = []
        for m in batch:
            r = results.get(m.key)
            reason, failing = _reject_reason(parse_test_log(r["log"]) if r else {}, stable)
            if reason:
                count(reason)
            else:
                hits.append((m, r, failing))
        # a mutant's failures must repeat: rerun the accepted ones once
        again = run_jobs(image, [job(m) for m, _, _ in hits], command) if hits else {}
        for m, r, failing in hits:
            if _reject_reason(parse_test_log(again.get(m.key, {}).get("log", "")), stable)[1] != failing:
                count("unstable")
                continue
            task = make_task(suite, spec, image, base_commit, m, r, failing, stable, src.public, src.tests)
            fkey = f"{m.path}:{m.function}"
            if task is None:
                count("issue text")
            elif len(tasks) < spec.tasks and per_function.get(fkey, 0) < PER_FUNCTION:
                per_function[fkey] = per_function.get(fkey, 0) + 1
                tasks.append(task)
        log(f"{spec.key}: tried {stats.tried}, {len(tasks)} tasks")
    stats.accepted = len(tasks)
    for t in tasks:
        t.extra["quarantined"] = stats.quarantined
    return tasks, stats


def discover_suite(suite: Suite, *, workers: int = 2, log=print) -> list[Task]:
    """Discover every package's tasks (packages in parallel) and write the suite's tasks file."""
    from concurrent.futures import ThreadPoolExecutor

    from srl_agent.tasks.suite import write_tasks

    with ThreadPoolExecutor(max(1, workers)) as pool:
        results = list(pool.map(lambda spec: discover_package(suite, spec, log=log), suite.packages))
    tasks = [t for ts, _ in results for t in ts]
    for _, stats in results:
        log(f"{stats.package}: {stats.accepted} tasks from {stats.tried} mutations tried; rejected {stats.rejected}; "
            f"{len(stats.quarantined)} flaky tests quarantined")
    write_tasks(suite.tasks_path, tasks)
    return tasks
