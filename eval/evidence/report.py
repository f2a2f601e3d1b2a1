"""The protocol's statistics and outputs: t-intervals over seeds, the paired SRL - SFT difference and its
pre-registered reading, Wilson intervals for resolved rates pooled over seeds x tasks, table.md and evidence.png."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from evidence.runs import METHODS

T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def _wall(info: dict) -> str:
    """The whole experiment's wall time, when this invocation ran all of it (not for --report or a resumed run)."""
    if info.get("report_only") or info.get("resumed") or not info.get("wall_seconds"):
        return ""
    return f" Whole experiment: {info['wall_seconds'] / 60:.1f} min wall."


def t_interval(values: list[float]) -> dict:
    """Mean with a 95% t-interval (t with n - 1 degrees of freedom: 2.776 for 5 seeds); one value has none."""
    n = len(values)
    mean = statistics.fmean(values) if values else float("nan")
    if n < 2:
        return {"mean": mean, "low": None, "high": None, "n": n}
    half = T_975.get(n - 1, 1.96) * statistics.stdev(values) / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n}


def reading(iv: dict) -> str:
    """The pre-registered reading of the SRL - SFT interval."""
    if iv["low"] is None:
        return "not decided (one seed: no interval)"
    if iv["low"] > 0:
        return "SRL beats SFT on this setting (interval above 0)"
    if iv["high"] < 0:
        return "SFT beats SRL on this setting (interval below 0)"
    return "the difference is not shown (interval contains 0)"


def resolved_stats(runs: list[dict], start: str) -> dict:
    from srl_agent.eval.evaluation import wilson_interval

    episodes = [e for r in runs for e in r["episodes"].get(start, [])]
    n, res = len(episodes), sum(e["resolved"] for e in episodes)
    low, high = wilson_interval(res, n)
    return {"resolved": res, "episodes": n, "rate": res / n if n else 0.0, "low": low, "high": high,
            "per_seed": [r["resolved"].get(start, 0.0) for r in runs]}


def summarize(runs: list[dict]) -> dict:
    by = {m: sorted((r for r in runs if r["method"] == m), key=lambda r: r["seed"]) for m in METHODS}
    methods = {}
    for m, rs in by.items():
        if not rs:
            continue
        starts = list(rs[0]["episodes"])
        methods[m] = {"seeds": [r["seed"] for r in rs], "step_reward": t_interval([r["step_reward"] for r in rs]),
                      "parse_rate": t_interval([r["parse_rate"] for r in rs]),
                      "resolved": {s: resolved_stats(rs, s) for s in starts},
                      "optimizer_steps": t_interval([r["cost"]["steps"] for r in rs]),
                      "train_cpu_seconds": t_interval([r["cost"]["train_cpu_seconds"] for r in rs])}
    paired = {}
    sft = {r["seed"]: r for r in by["sft"]}
    pairs = [(r, sft[r["seed"]]) for r in by["srl"] if r["seed"] in sft]
    if pairs:
        for key in ("step_reward", "parse_rate"):
            diffs = [a[key] - b[key] for a, b in pairs]
            paired[key] = {**t_interval(diffs), "per_seed": diffs}
        paired["reading"] = reading(paired["step_reward"])
    return {"methods": methods, "srl_minus_sft": paired}


def _iv(iv: dict, fmt: str = ".3f") -> str:
    if iv["low"] is None:
        return f"{iv['mean']:{fmt}}"
    return f"{iv['mean']:{fmt}} [{iv['low']:{fmt}}, {iv['high']:{fmt}}]"


def _rate(r: dict) -> str:
    seeds = " ".join(f"{x:.2f}" for x in r["per_seed"])
    return f"{r['resolved']}/{r['episodes']} = {r['rate']:.2f} [{r['low']:.2f}, {r['high']:.2f}] (seeds: {seeds})"


def table(results: dict) -> str:
    stats, info = results["stats"], results["info"]
    starts = next((list(m["resolved"]) for m in stats["methods"].values()), [])
    lines = ["| method | held-out step reward | parse rate | optimizer steps | train CPU s | seeds |",
             "|---|---|---|---|---|---|"]
    for m, st in stats["methods"].items():
        lines.append(f"| {m} | {_iv(st['step_reward'])} | {_iv(st['parse_rate'], '.2f')} | "
                     f"{_iv(st['optimizer_steps'], '.1f')} | {_iv(st['train_cpu_seconds'], '.0f')} | "
                     f"{len(st['seeds'])} |")
    lines += ["", "| method | " + " | ".join(f"resolved ({s})" for s in starts) + " |",
              "|---|" + "---|" * len(starts)]
    for m, st in stats["methods"].items():
        lines.append(f"| {m} | " + " | ".join(_rate(st["resolved"][s]) for s in starts) + " |")
    d = stats["srl_minus_sft"]
    if d:
        lines += ["", f"**SRL - SFT** (paired by seed), held-out step reward: {_iv(d['step_reward'])}; parse rate: "
                  f"{_iv(d['parse_rate'], '.2f')}. Pre-registered reading: {d['reading']}."]
    lines += ["", "Means over seeds with 95% t-intervals (t with n - 1 degrees of freedom: 4.303 for 3 seeds, 2.776 "
              "for 5). Resolved: pooled over seeds x tasks "
              "with 95% Wilson intervals (episodes of one task are correlated, so the pooled interval is optimistic), "
              "per-seed rates beside. start = from the task's start state, at most "
              f"{info['settings']['agent_steps']} calls; kN = after the expert's first N - k actions, at most k + 2 "
              f"calls. Budget B = {info['settings']['budget']:g} CPU-seconds per run; SFT's cosine schedule over the "
              f"pilot's {info.get('pilot', {}).get('steps')} steps; {info.get('heldout_examples')} held-out step "
              f"examples, {info.get('heldout_tasks')} held-out tasks." + _wall(info), ""]
    if info.get("quick"):
        lines.insert(0, "_Quick mode (CI): 1 seed, tiny budget; these numbers are not evidence._\n")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = results["stats"]["methods"]
    names = list(stats)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, m in enumerate(names):
        iv = stats[m]["step_reward"]
        # max(0, .): rounded bounds can sit a hair inside the mean, which matplotlib refuses as a negative error
        err = None if iv["low"] is None else [[max(0.0, iv["mean"] - iv["low"])], [max(0.0, iv["high"] - iv["mean"])]]
        ax1.bar(i, iv["mean"], yerr=err, capsize=4, color=f"C{i}")
    ax1.set_xticks(range(len(names)), names, rotation=20)
    ax1.set_ylabel("held-out step reward (greedy), 95% t-interval")
    ax1.axhline(0, color="grey", lw=0.5)
    starts = next((list(m["resolved"]) for m in stats.values()), [])
    width = 0.8 / max(1, len(names))
    for i, m in enumerate(names):
        rs = [stats[m]["resolved"][s] for s in starts]
        xs = [j + i * width for j in range(len(starts))]
        ax2.bar(xs, [r["rate"] for r in rs], width, color=f"C{i}", label=m,
                yerr=[[max(0.0, r["rate"] - r["low"]) for r in rs], [max(0.0, r["high"] - r["rate"]) for r in rs]],
                capsize=2)
    ax2.set_xticks([j + 0.4 - width / 2 for j in range(len(starts))], starts)
    ax2.set_ylabel("resolved rate on held-out tasks, 95% Wilson")
    ax2.set_ylim(0, 1)
    ax2.legend(fontsize=8)
    fig.suptitle("Learning evidence (docs/evidence-protocol.md)" + (" - quick mode" if results["info"].get("quick") else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
