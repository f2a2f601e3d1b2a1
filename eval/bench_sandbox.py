"""Benchmark of the sandbox: command round trip through the hardened channel (vs `docker exec` and `docker run`),
reset vs recreate, the disk watchdog, grading in a fresh container vs in the agent's, start, 16 at once.

Run: .venv/bin/python eval/bench_sandbox.py [--image IMAGE] [--quick] [--no-grading]
Prints one Markdown table; every ratio is against a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from srl_agent.sandbox import BASE_IMAGE, Sandbox
from srl_agent.sandbox.images import build_base_image

REPO = ("cd /testbed && git init -q && for i in $(seq 40); do printf 'def f%s():\\n    return %s\\n' $i $i > m$i.py;"
        " done && mkdir -p pkg && echo 'x = 1' > pkg/a.py && git add -A && git commit -qm init")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def timed(fn, n: int, gap: float = 0.0) -> list[float]:
    out = []
    for _ in range(n):
        if gap:
            time.sleep(gap)  # not timed: the agent's thinking between commands
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def mem_used_mib() -> float:
    """System memory in use (MemTotal - MemAvailable): engine, shims and containers included."""
    info = dict(line.split(":", 1) for line in open("/proc/meminfo"))
    kib = lambda k: int(info[k].split()[0])  # noqa: E731
    return (kib("MemTotal") - kib("MemAvailable")) / 1024


def container_mem_mib(sb: Sandbox) -> float:
    """The container's own memory use, from its cgroup (v1 or v2)."""
    out = sb.run("cat /sys/fs/cgroup/memory/memory.usage_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.current")
    return int(out.output.split()[0]) / 2 ** 20


def round_trips(image: str, q: bool, rows: list) -> float:
    """`true` through the hardened channel (an agent's pace: 20 ms between commands; and back to back), the
    channel alone, and the baselines: one `docker exec` / `docker run` per command."""
    with Sandbox(image) as sb:
        for _ in range(20):
            sb.run("true")
        paced = timed(lambda: sb.run("true"), 200 if q else 1000, gap=0.02)
        b2b = timed(lambda: sb.run("true"), 100 if q else 300)
        ping = timed(lambda: sb.session.channel.request("ping", timeout=10), 200 if q else 1000, gap=0.02)
        cid = sb.container_id
        exec_cli = timed(lambda: subprocess.run(["docker", "exec", cid, "true"], check=True), 10 if q else 30)
    run_cli = timed(lambda: subprocess.run(["docker", "run", "--rm", "--network", "none", image, "true"],
                                           check=True, capture_output=True), 5 if q else 15)
    base = pct(paced, 0.5)
    for name, ts in (("hardened channel, one bash per command (`sb.run`, 20 ms apart)", paced),
                     ("hardened channel, back to back (the next bash not started yet)", b2b),
                     ("the channel alone (a `ping` to the supervisor, no command)", ping),
                     ("`docker exec` per command", exec_cli), ("`docker run --rm` per command", run_cli)):
        rows.append((f"`true` round trip: {name}", f"p50 {pct(ts, .5) * 1e3:.2f} ms, p95 {pct(ts, .95) * 1e3:.2f} ms",
                     "1x (baseline)" if ts is paced else f"{pct(ts, .5) / base:,.2f}x"))
    return pct(run_cli, .5)


def reset_and_recreate(image: str, q: bool, rows: list) -> None:
    with Sandbox(image) as sb:
        assert sb.run(REPO, timeout=120).exit_code == 0
        sb.checkpoint()
        resets, recreates = [], []
        for i in range(10 if q else 40):
            sb.run(f"echo change >> m1.py; rm m2.py; echo new > new{i}.py; cd /tmp; export X={i}; echo t > ~/t; "
                   "(sleep 300 &)")
            r = sb.reset()
            assert not r.recreated, r
            resets.append(r.seconds)
        for _ in range(3 if q else 8):
            sb.run("rm -rf .git")
            r = sb.reset()
            assert r.recreated, r
            recreates.append(r.seconds)
        assert sb.diff() == ""
    rows.append(("reset to checkpoint (41-file repo: files, .git, home, /tmp, processes, shell state)",
                 f"p50 {pct(resets, .5) * 1e3:.0f} ms, p95 {pct(resets, .95) * 1e3:.0f} ms", "target <= 150 ms"))
    rows.append(("reset that must recreate the container (`rm -rf .git`: new container, start copy, checkpoint)",
                 f"p50 {pct(recreates, .5) * 1e3:.0f} ms", f"{pct(recreates, .5) / pct(resets, .5):.1f}x a reset"))


def grading(q: bool, rows: list) -> None:
    """Gold patches of the same tasks graded three ways in this run: in a fresh container with its start hidden
    by the pool, in a fresh container started on the spot, and in the agent's own container after a reset."""
    from srl_agent.grading_run import grade_fresh, grade_in_container, prepare
    from srl_agent.sandbox.fresh import FreshPool
    from srl_agent.tasks import load_suite, resolve_image, task_sandbox
    from srl_agent.tasks.validate import sample_per_package

    tasks = sample_per_package(load_suite("pypi-mutants"), 1 if q else 2, seed=3)
    for t in tasks:
        resolve_image(t)  # images built before anything is timed
    warm, cold, agent = [], [], []
    no_pool = FreshPool(per_image=0)
    for t in tasks:
        prepare(t)
        time.sleep(3.0)  # the episode's time, during which the grading container starts
        r = grade_fresh(t, t.gold_patch)
        warm.append(r.duration)
        r2 = grade_fresh(t, t.gold_patch, pool=no_pool)
        cold.append(r2.duration)
        with task_sandbox(t) as sb:
            sb.run("echo agent was here > /tmp/x")
            t0 = time.perf_counter()
            sb.reset()
            r3 = grade_in_container(sb, t, t.gold_patch)
            agent.append(time.perf_counter() - t0)
        assert r.resolved and r2.resolved and r3.resolved, (r.to_dict(), r2.to_dict(), r3.to_dict())
    base = pct(agent, .5)
    n = f"{len(tasks)} gold patches"
    rows.append((f"grade in the agent's container after reset (the old way; {n})", f"p50 {base:.2f} s", "1x"))
    rows.append((f"grade in a fresh container, start hidden by the pool ({n})", f"p50 {pct(warm, .5):.2f} s",
                 f"{pct(warm, .5) / base:.2f}x"))
    rows.append((f"grade in a fresh container started on the spot ({n})", f"p50 {pct(cold, .5):.2f} s",
                 f"{pct(cold, .5) / base:.2f}x"))


def watchdog_cost(image: str, q: bool, rows: list) -> None:
    from srl_agent.sandbox import watchdog

    with Sandbox(image) as sb:
        assert sb.run(REPO, timeout=120).exit_code == 0
        w = watchdog._watched.get(sb.container_id)
        kind = "walk of the upper dir from the host" if w and w.upper else "engine's SizeRw"
        checks = timed(lambda: watchdog.layer_bytes(sb.container_id, watchdog._Watched(1 << 40, w.upper if w else None)),
                       50 if q else 200)
    rows.append((f"disk watchdog: one check of a container's writable layer ({kind})",
                 f"p50 {pct(checks, .5) * 1e3:.2f} ms", f"{pct(checks, .5) / watchdog.INTERVAL * 100:.2f}% of a core "
                 "per container (one check a second)"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default=BASE_IMAGE)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--parallel", type=int, default=16, help="sandboxes alive at once (16)")
    ap.add_argument("--no-grading", action="store_true", help="skip the grading comparison (needs task images)")
    args = ap.parse_args()
    q = args.quick
    build_base_image(args.image, log=lambda *_: None)
    rows: list[tuple[str, str, str]] = []

    run_cli = round_trips(args.image, q, rows)
    reset_and_recreate(args.image, q, rows)
    watchdog_cost(args.image, q, rows)
    if not args.no_grading:
        grading(q, rows)

    starts, closes = [], []
    for _ in range(5 if q else 12):
        t = time.perf_counter()
        sb = Sandbox(args.image).start()
        starts.append(time.perf_counter() - t)
        t = time.perf_counter()
        sb.close()
        closes.append(time.perf_counter() - t)
    rows.append(("sandbox start (container + session + tools)", f"p50 {pct(starts, .5) * 1e3:.0f} ms",
                 f"{pct(starts, .5) / run_cli:.1f}x a `docker run --rm true`"))
    rows.append(("sandbox close (container removed)", f"p50 {pct(closes, .5) * 1e3:.0f} ms", ""))

    n = args.parallel
    before = mem_used_mib()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n) as ex:
        boxes = list(ex.map(lambda _: Sandbox(args.image).start(), range(n)))
    start_all = time.perf_counter() - t
    try:
        t = time.perf_counter()
        with ThreadPoolExecutor(max_workers=n) as ex:
            outs = list(ex.map(lambda b: b.run("python3 -c 'print(42)'").output, boxes))
        cmd_all = time.perf_counter() - t
        assert outs == ["42\n"] * n
        per_container = statistics.mean(container_mem_mib(b) for b in boxes)
        after = mem_used_mib()
    finally:
        t = time.perf_counter()
        with ThreadPoolExecutor(max_workers=n) as ex:
            list(ex.map(lambda b: b.close(), boxes))
        close_all = time.perf_counter() - t
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append((f"{n} sandboxes at once: start all (parallel)", f"{start_all:.2f} s",
                 f"{start_all / n * 1e3:.0f} ms per sandbox"))
    rows.append((f"{n} sandboxes at once: `python3 -c 'print(42)'` in each (parallel)", f"{cmd_all * 1e3:.0f} ms", ""))
    rows.append((f"{n} sandboxes at once: memory", f"{after - before:.0f} MiB system-wide",
                 f"{per_container:.1f} MiB per container cgroup; host process peak RSS +{rss_after - rss_before:.0f} MiB"))
    rows.append((f"{n} sandboxes at once: close all (parallel)", f"{close_all:.2f} s", ""))

    load = os.getloadavg()
    print(f"Sandbox benchmark ({args.image}; {'quick' if q else 'full'} run; load average {load[0]:.1f} on "
          f"{os.cpu_count()} cores)\n")
    print("| measure | value | ratio / note |\n|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
