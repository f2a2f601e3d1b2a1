"""Benchmark of the sandbox: command round trip (session vs `docker exec` vs `docker run`), reset, start, 16 at once.

Run: .venv/bin/python eval/bench_sandbox.py [--image IMAGE] [--quick]
Prints one Markdown table; ratios are against the persistent session measured in the same run.
"""

from __future__ import annotations

import argparse
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


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default=BASE_IMAGE)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--parallel", type=int, default=16, help="sandboxes alive at once (16)")
    args = ap.parse_args()
    q = args.quick
    build_base_image(args.image, log=lambda *_: None)
    rows: list[tuple[str, str, str]] = []

    with Sandbox(args.image) as sb:
        for _ in range(50):
            sb.run("true")
        session = timed(lambda: sb.run("true"), 200 if q else 1000)
        cid = sb.container_id
        exec_cli = timed(lambda: subprocess.run(["docker", "exec", cid, "true"], check=True), 10 if q else 30)
    run_cli = timed(lambda: subprocess.run(["docker", "run", "--rm", "--network", "none", args.image, "true"],
                                           check=True, capture_output=True), 5 if q else 15)
    base = pct(session, 0.5)
    for name, ts in (("persistent session (`sb.run`)", session), ("`docker exec` per command", exec_cli),
                     ("`docker run --rm` per command", run_cli)):
        rows.append((f"`true` round trip: {name}",
                     f"p50 {pct(ts, .5) * 1e3:.2f} ms, p95 {pct(ts, .95) * 1e3:.2f} ms",
                     f"{pct(ts, .5) / base:,.0f}x" if ts is not session else "1x (baseline)"))

    with Sandbox(args.image) as sb:
        assert sb.run(REPO, timeout=120).exit_code == 0
        sb.checkpoint()
        resets = []
        for i in range(10 if q else 40):
            sb.run(f"echo change >> m1.py; rm m2.py; echo new > new{i}.py; cd /tmp; export X={i}")
            resets.append(sb.reset())
        assert sb.diff() == ""
    rows.append(("reset to checkpoint (41-file repo: restore files, kill jobs, fresh shell)",
                 f"p50 {pct(resets, .5) * 1e3:.0f} ms, p95 {pct(resets, .95) * 1e3:.0f} ms", "target <= 150 ms"))

    starts, closes = [], []
    for _ in range(5 if q else 12):
        t = time.perf_counter()
        sb = Sandbox(args.image)
        starts.append(time.perf_counter() - t)
        t = time.perf_counter()
        sb.close()
        closes.append(time.perf_counter() - t)
    rows.append(("sandbox start (container + session + tools)", f"p50 {pct(starts, .5) * 1e3:.0f} ms",
                 f"{pct(starts, .5) / pct(run_cli, .5):.1f}x a `docker run --rm true`"))
    rows.append(("sandbox close (container removed)", f"p50 {pct(closes, .5) * 1e3:.0f} ms", ""))

    n = args.parallel
    before = mem_used_mib()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n) as ex:
        boxes = list(ex.map(lambda _: Sandbox(args.image), range(n)))
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

    print(f"Sandbox benchmark ({args.image}; {'quick' if q else 'full'} run)\n")
    print("| measure | value | ratio / note |\n|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
