"""Benchmark of evaluation throughput: the local sandbox backend vs Ray with 1 and 2 workers, in one run.

Run: .venv/bin/python eval/bench_scale.py [--tasks 6] [--steps 8] [--calls 200] [--repeat 3] [--address ADDR]
Every configuration evaluates the same held-out tasks of the bundled suite with the same scripted policy
(`--steps` cheap bash calls, then submit; each episode is graded by running the task's tests), so the only
difference is where the sandboxes live. Prints two Markdown tables: throughput (tasks/min, agent steps/s, ratios
against the local backend with the same number of workers) and Ray's own cost (the extra round trip per step,
and starting a task's sandbox in an actor instead of in this process), from `sb.run("true")` timed both ways.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

STEP_COMMANDS = ["ls", "git status --short", "git log --oneline | head -3", "find . -name '*.py' | head -20",
                 "grep -rn 'def ' --include=*.py . | head -20", "python3 -c 'print(1 + 1)'",
                 "wc -l $(git ls-files | head -5)", "cat $(git ls-files '*.py' | head -1) | head -40"]


def script(steps: int) -> list[str]:
    from srl_agent.actions import Action
    from srl_agent.policy.scripted import completions_for

    return completions_for([Action.bash(STEP_COMMANDS[i % len(STEP_COMMANDS)]) for i in range(steps)]
                           + [Action.submit()])


def run_eval(tasks, steps: int, workers: int, backend: str) -> dict:
    from srl_agent.eval.agent import AgentConfig
    from srl_agent.eval.evaluation import evaluate
    from srl_agent.policy.scripted import ScriptedPolicy

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = evaluate(tasks, ScriptedPolicy(default=script(steps)), Path(tmp) / "run", workers=workers,
                           backend=backend, agent_config=AgentConfig(max_steps=steps + 2), progress=False)
        wall = time.perf_counter() - t0
    n_steps = summary["mean_steps"] * summary["episodes"]
    return {"wall": wall, "episodes": summary["episodes"], "steps": n_steps,
            "errors": summary["statuses"].get("error", 0), "tasks_per_min": 60 * summary["episodes"] / wall,
            "steps_per_s": n_steps / wall}


def round_trips(task, calls: int, starts: int = 3) -> dict:
    """Median seconds for `sb.run("true")` in a local sandbox and through a Ray actor, and median start times of a
    task's sandbox both ways."""
    from srl_agent.sandbox.ray_pool import RaySandboxPool
    from srl_agent.tasks import task_sandbox

    pool = RaySandboxPool(None, 1)
    out: dict[str, float] = {}
    for name, open_sandbox in (("local", task_sandbox), ("ray", pool.task_sandbox)):
        times = []
        for _ in range(starts):
            t0 = time.perf_counter()
            with open_sandbox(task) as sb:
                times.append(time.perf_counter() - t0)
                sb.run("true")
                if len(times) == starts:
                    out[name] = statistics.median(_timed(lambda: sb.run("true"), calls))
        out[f"start_{name}"] = statistics.median(times)
    return out


def count_remote_calls() -> itertools.count:
    """Count the driver -> actor calls (a benchmark-only wrapper around RemoteSandbox._call)."""
    from srl_agent.sandbox.ray_pool import RemoteSandbox

    counter, original = itertools.count(), RemoteSandbox._call

    def _call(self, method, *args, **kwargs):
        next(counter)
        return original(self, method, *args, **kwargs)

    RemoteSandbox._call = _call
    return counter


def _timed(fn, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=6, help="held-out tasks of the bundled suite (6)")
    ap.add_argument("--steps", type=int, default=8, help="bash steps per episode before submitting (8)")
    ap.add_argument("--calls", type=int, default=200, help="round trips timed per backend (200)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds over the configurations; best wall kept (3)")
    ap.add_argument("--address", default=None, help="a Ray cluster to use instead of a local one")
    args = ap.parse_args()

    import ray

    from srl_agent.sandbox.ray_pool import ensure_ray
    from srl_agent.tasks import DEFAULT_SUITE, load_suite, resolve_image

    tasks = load_suite(DEFAULT_SUITE, split="test")[: args.tasks]
    for image in sorted({resolve_image(t) for t in tasks}):  # build images before timing anything
        print(f"image ready: {image}", file=sys.stderr)
    t0 = time.perf_counter()
    ensure_ray(args.address, num_cpus=2)
    ray_init = time.perf_counter() - t0
    print(f"ray: {len(ray.nodes())} node(s), {ray.cluster_resources().get('CPU', 0):g} CPUs, started/joined in "
          f"{ray_init:.1f} s", file=sys.stderr)
    run_eval(tasks[:1], 1, 1, "ray")  # warm: Ray worker processes, image layers in the page cache

    calls = count_remote_calls()
    configs = [("local", 1), ("ray", 1), ("local", 2), ("ray", 2)]
    results: dict[tuple[str, int], dict] = {}
    for round_ in range(args.repeat):  # interleaved, so a burst of load on the machine hits every configuration
        for backend, workers in configs:
            before = next(calls)
            r = run_eval(tasks, args.steps, workers, backend)
            r["calls"] = next(calls) - before - 1
            print(f"round {round_ + 1}: {backend} x{workers}: {r['wall']:.1f} s", file=sys.stderr)
            if (backend, workers) not in results or r["wall"] < results[(backend, workers)]["wall"]:
                results[(backend, workers)] = r
    rt = round_trips(tasks[0], args.calls)

    print(f"\nEvaluation of {len(tasks)} tasks x {args.steps + 1} steps (scripted policy, graded), this machine, "
          f"best of {args.repeat}\n")
    print("| backend | workers | wall s | tasks/min | steps/s | vs local, same workers | infra errors |")
    print("|---|---|---|---|---|---|---|")
    for backend, workers in configs:
        r, base = results[(backend, workers)], results[("local", workers)]
        print(f"| {backend} | {workers} | {r['wall']:.1f} | {r['tasks_per_min']:.1f} | {r['steps_per_s']:.2f} | "
              f"{r['tasks_per_min'] / base['tasks_per_min']:.2f}x | {r['errors']} |")
    print(f"\nRay's own cost (median of {args.calls} `sb.run(\"true\")` calls; median of 3 starts of a task's "
          "sandbox)\n")
    print("| measure | local | ray | ray overhead |")
    print("|---|---|---|---|")
    print(f"| round trip per step | {1e3 * rt['local']:.2f} ms | {1e3 * rt['ray']:.2f} ms | "
          f"{1e3 * (rt['ray'] - rt['local']):+.2f} ms ({rt['ray'] / rt['local']:.1f}x) |")
    print(f"| task sandbox start | {rt['start_local']:.2f} s | {rt['start_ray']:.2f} s | "
          f"{rt['start_ray'] - rt['start_local']:+.2f} s |")
    print(f"| Ray start-up (once per run) | - | {ray_init:.1f} s | |")
    ray1 = results[("ray", 1)]
    per_episode = ray1["calls"] / ray1["episodes"]
    extra = per_episode * (rt["ray"] - rt["local"]) + (rt["start_ray"] - rt["start_local"])
    print(f"\nPer episode: {per_episode:.0f} driver -> actor calls ({args.steps + 1} agent steps, the patch, grading), "
          f"so Ray adds {1e3 * extra:.0f} ms = {100 * extra / (ray1['wall'] / ray1['episodes']):.1f}% of an episode "
          f"({ray1['wall'] / ray1['episodes']:.2f} s with 1 worker)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
