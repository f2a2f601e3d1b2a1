"""`srl tasks`: build a suite's images (and, once, discover its tasks), list tasks, show one task (bundled or from
published rows), export tasks as swebench 5.x instances."""

from __future__ import annotations

import argparse
import sys
import time

from srl_agent.cli.helpers import nonneg_int, output_file, positive_int, suite_and_split
from srl_agent.errors import InputError, SRLError
from srl_agent.progress import progress
from srl_agent.task_rows import DATASETS


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
    from srl_agent.tasks.rows import load_tasks

    rejected: list[str] = []
    suite, split = suite_and_split(args.suite, args.split, "SUITE")
    tasks = load_tasks(suite, split=split, dataset=args.dataset, rejected=rejected)
    for line in rejected:
        print(f"rejected: {line}", file=sys.stderr)
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

    if args.suite and args.dataset is None and _is_suite(args.suite):
        t = find_task(args.instance_id, args.suite)  # --suite takes SUITE[:split], a folder or a tasks file
    elif args.suite:
        from srl_agent.tasks.rows import load_tasks

        matches = [t for t in load_tasks(args.suite, dataset=args.dataset) if t.instance_id == args.instance_id]
        if not matches:
            raise InputError(f"no task {args.instance_id!r} in {args.suite}; `srl tasks list {args.suite}` "
                             "shows the ids")
        t = matches[0]
    else:
        t = find_task(args.instance_id)
    print(f"instance_id: {t.instance_id}\nrepo: {t.repo} {t.version or ''}\nsplit: {t.split or '-'}\n"
          f"base_commit: {t.base_commit}\nimage: {t.image} ({_image_status(t)})\n"
          f"test_command: {t.test_command or '(none)'}")
    _print_spec(t, full=args.eval_script)
    print("FAIL_TO_PASS:\n" + "".join(f"  {x}\n" for x in t.fail_to_pass))
    print(f"PASS_TO_PASS: {len(t.pass_to_pass)} tests\n")
    print("problem statement:\n" + t.problem_statement)
    if args.gold:
        print("gold patch:\n" + (t.gold_patch or "(none)"))
    return 0


def _is_suite(source: str) -> bool:
    """A bundled suite or a folder with tasks.jsonl (SUITE:split too), as opposed to published rows."""
    from pathlib import Path

    from srl_agent.tasks.suite import TASKS_FILE, split_suite_spec, suites_root

    name = split_suite_spec(source)[0]
    p = Path(name)
    return (p.is_dir() and (p / TASKS_FILE).is_file()) or p.name == TASKS_FILE or (
        not p.exists() and (suites_root() / name).is_dir())


def _image_status(t) -> str:
    from srl_agent.errors import DockerUnavailableError
    from srl_agent.task_rows import image_candidates
    from srl_agent.tasks.swebench import is_bundled, image_present

    src = t.extra.get("image_source", "row")
    if is_bundled(t):
        return "the suite's start-state image, built on first use"
    try:
        here = [n for n in image_candidates(t) if image_present(n)]
    except DockerUnavailableError:
        return f"from the {src}; no Docker engine to look for it"
    if here:
        return f"from the {src}; present as {here[0]}"
    alias = t.extra.get("image_published")
    return (f"from the {src}; NOT on this machine: `docker pull {alias or t.image}` where a registry is reachable, "
            "or `docker load -i FILE.tar` with a copy saved elsewhere (`docker save`)")


def _print_spec(t, *, full: bool) -> None:
    from srl_agent.tasks.swebench import swebench_spec

    try:
        spec = swebench_spec(t)
    except InputError as exc:
        print(f"test spec: none ({exc})\n")
        return
    script = spec.eval_script
    print(f"test spec (swebench make_test_spec): log_parser {spec.log_parser}, eval_type {spec.eval_type}, "
          f"eval script {len(script.splitlines())} lines"
          f"{' (the row' + chr(39) + 's own)' if t.eval_script else ' (made from the test command)'}"
          f"; test command {t.extra.get('test_command_source', 'from the suite')}")
    if full:
        print(script)
    print()


def _export(args: argparse.Namespace) -> int:
    from srl_agent.tasks.rows import load_tasks
    from srl_agent.tasks.swebench import export_instances

    rejected: list[str] = []
    suite, split = suite_and_split(args.suite, args.split, "SUITE")
    tasks = load_tasks(suite, dataset=args.dataset, split=split, rejected=rejected)
    for line in rejected:
        print(f"rejected: {line}", file=sys.stderr)
    if args.instance_ids:
        wanted = set(args.instance_ids.split(","))
        unknown = wanted - {t.instance_id for t in tasks}
        if unknown:
            raise InputError(f"--instance-ids: not in {args.suite}: {', '.join(sorted(unknown))}")
        tasks = [t for t in tasks if t.instance_id in wanted]
    t0 = time.perf_counter()
    n = export_instances(tasks, args.output)
    print(f"wrote {n} swebench instances to {args.output} in {time.perf_counter() - t0:.1f}s "
          f"({len(rejected)} rows rejected); grade with swebench: "
          f"python -m swebench.harness.run_evaluation -d {args.output} -p PREDICTIONS.jsonl -id RUN")
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
                    help="suite name, folder or tasks file, optionally SUITE:split, or published rows: a "
                         "JSON/JSONL file, a swebench task repo, a Hugging Face id (default: pypi-mutants)")
    ls.add_argument("--split", default=None, help="only this split (train | test); the same as SUITE:split")
    ls.add_argument("--dataset", choices=DATASETS, default=None, help="dataset conventions of published rows")
    ls.set_defaults(func=_list)
    sh = s.add_parser("show", help="show one task: image, test spec, issue text, tests (and, with --gold, the fix)")
    sh.add_argument("instance_id")
    sh.add_argument("--suite", default=None, metavar="SOURCE",
                    help="look only here: a suite (name, folder or tasks file, SUITE:split too), or published rows "
                         "(a JSON/JSONL file, a swebench task repo, a Hugging Face id)")
    sh.add_argument("--dataset", choices=DATASETS, default=None,
                    help="the rows' dataset conventions when the rows cannot tell (SWE-Gym rows look like SWE-bench's)")
    sh.add_argument("--gold", action="store_true", help="also print the gold patch")
    sh.add_argument("--eval-script", action="store_true", help="also print the whole eval script")
    sh.set_defaults(func=_show)
    ex = s.add_parser("export", help="write tasks as swebench 5.x instances, for swebench's own harness",
                      description="Write SUITE's tasks as swebench 5.x instances (image = the task's start-state "
                                  "image, built here when missing; eval_script, log_parser, eval_type, F2P/P2P), "
                                  "one JSON per line, so swebench's run_evaluation grades predictions offline.")
    ex.add_argument("suite", metavar="SUITE[:split]",
                    help="suite name or folder (SUITE:split too), or published rows (file, task repo, HF id)")
    ex.add_argument("-o", "--output", required=True, type=output_file, help="instances file to write (JSONL)")
    ex.add_argument("--split", default=None, help="only this split; the same as SUITE:split")
    ex.add_argument("--instance-ids", default=None, help="comma-separated subset")
    ex.add_argument("--dataset", choices=DATASETS, default=None, help="dataset conventions of published rows")
    ex.set_defaults(func=_export)
