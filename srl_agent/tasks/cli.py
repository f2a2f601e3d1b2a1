"""`srl tasks`: build a suite's images (and, once, discover its tasks), list tasks, show one task."""

from __future__ import annotations

import argparse
import sys
import time

from srl_agent.cli_helpers import nonneg_int, positive_int, suite_and_split
from srl_agent.errors import SRLError
from srl_agent.progress import progress


class ValidationError(SRLError, RuntimeError):
    """Some tasks failed validation (gold patch does not resolve, or the start state already passes)."""


def _build(args: argparse.Namespace) -> int:
    from srl_agent.tasks.images import build_package_image
    from srl_agent.tasks.suite import load_recipe, load_suite

    suite = load_recipe(args.suite)
    if not suite.packages:
        print(f"suite {suite.name}: no packages to build (tasks use their own images)")
    t0 = time.perf_counter()
    for spec in suite.packages:
        r = build_package_image(spec, force=args.force)
        print(f"{spec.key:24s} {r.tag:48s} {'built' if r.built else 'present'} in {r.seconds:.1f}s")
    print(f"package images ready in {time.perf_counter() - t0:.1f}s")
    if suite.packages and suite.tasks_path.is_file():
        from srl_agent.tasks.images import build_task_image

        t1, built = time.perf_counter(), 0
        tasks = load_suite(suite.path)
        for t in tasks:
            if t.extra.get("bug_patch") and t.extra.get("package"):
                built += build_task_image(t, suite.package(t.extra["package"]), force=args.force).built
        print(f"task images (the tasks' start states) ready in {time.perf_counter() - t1:.1f}s: {len(tasks)} tasks, "
              f"{built} built now")
    if args.discover:
        from srl_agent.tasks.discover import discover_suite

        t1 = time.perf_counter()
        tasks = discover_suite(suite, workers=args.workers)
        print(f"discovered {len(tasks)} tasks in {time.perf_counter() - t1:.0f}s -> {suite.tasks_path}")
    if args.validate is not None:
        from srl_agent.tasks.validate import sample_per_package, validate_tasks

        tasks = sample_per_package(load_suite(suite.path), args.validate or None)
        bar = progress("validating", total=len(tasks), unit="task")
        checks = validate_tasks(tasks, workers=args.workers, on_done=lambda _c: bar.update(1))
        bar.close()
        bad = [c for c in checks if not c.ok]
        for c in bad:
            print(f"FAILED {c.instance_id}: gold={c.gold} empty={c.empty} {c.detail[:300]}", file=sys.stderr)
        print(f"validated {len(checks) - len(bad)}/{len(checks)} tasks")
        if bad:
            raise ValidationError(f"{len(bad)} tasks failed validation (see above); rebuild or rediscover the suite")
    return 0


def _list(args: argparse.Namespace) -> int:
    from srl_agent.tasks.suite import load_suite

    tasks = load_suite(*suite_and_split(args.suite, args.split, "SUITE"))
    print(f"{'instance_id':48s} {'split':6s} {'F2P':>4s} {'P2P':>4s}  issue")
    for t in tasks:
        first = t.problem_statement.splitlines()[0] if t.problem_statement else ""
        print(f"{t.instance_id:48s} {t.split or '-':6s} {len(t.fail_to_pass):4d} {len(t.pass_to_pass):4d}  {first[:60]}")
    splits = {}
    for t in tasks:
        splits[t.split or "-"] = splits.get(t.split or "-", 0) + 1
    print(f"{len(tasks)} tasks ({', '.join(f'{k}: {v}' for k, v in sorted(splits.items()))})")
    return 0


def _show(args: argparse.Namespace) -> int:
    from srl_agent.tasks.suite import find_task

    t = find_task(args.instance_id, args.suite)  # --suite takes SUITE[:split], a folder or a tasks file
    print(f"instance_id: {t.instance_id}\nrepo: {t.repo} {t.version or ''}\nsplit: {t.split}\n"
          f"base_commit: {t.base_commit}\nimage: {t.image}\ntest_command: {t.test_command}\n")
    print("FAIL_TO_PASS:\n" + "".join(f"  {x}\n" for x in t.fail_to_pass))
    print(f"PASS_TO_PASS: {len(t.pass_to_pass)} tests\n")
    print("problem statement:\n" + t.problem_statement)
    if args.gold:
        print("gold patch:\n" + (t.gold_patch or "(none)"))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="task suites: build, list, show")
    s = p.add_subparsers(dest="tasks_command", metavar="SUBCOMMAND", required=True)
    b = s.add_parser("build", help="fetch pinned sdists and build one image per package (idempotent)",
                     description="Fetch the suite's pinned sdists (sha256 checked) and build its package images, "
                                 "skipping those present. --discover regenerates the tasks file (slow; the "
                                 "result is committed); --validate grades gold and empty patches.")
    b.add_argument("suite", nargs="?", default="pypi-mutants", help="suite name or folder (default: pypi-mutants)")
    b.add_argument("--force", action="store_true", help="rebuild images even when present")
    b.add_argument("--discover", action="store_true", help="rerun task discovery and rewrite tasks.jsonl")
    b.add_argument("--validate", nargs="?", type=nonneg_int, const=0, default=None, metavar="N",
                   help="check gold patches resolve and empty ones do not (N per package; all when N is omitted)")
    b.add_argument("--workers", type=positive_int, default=2, help="containers at once (default: 2)")
    b.set_defaults(func=_build)
    ls = s.add_parser("list", help="list a suite's tasks")
    ls.add_argument("suite", nargs="?", default="pypi-mutants", metavar="SUITE[:split]",
                    help="suite name, folder or tasks file, optionally SUITE:split (default: pypi-mutants)")
    ls.add_argument("--split", default=None, help="only this split (train | test); the same as SUITE:split")
    ls.set_defaults(func=_list)
    sh = s.add_parser("show", help="show one task: issue text, tests (and, with --gold, the fix)")
    sh.add_argument("instance_id")
    sh.add_argument("--suite", default=None, metavar="SUITE[:split]",
                    help="look only in this suite (a name, folder or tasks file, as `srl tasks list` takes)")
    sh.add_argument("--gold", action="store_true", help="also print the gold patch")
    sh.set_defaults(func=_show)
