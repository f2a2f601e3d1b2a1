"""Benchmark: the project's step-reward similarity vs difflib.SequenceMatcher(...).ratio() on real action pairs.

Prints pairs per second for both, the speed-up, and the maximum absolute difference (must be 0.0), for
autojunk False (the default) and True, plus the whole reward (parse + render + similarity) against the same
path with plain difflib. Pairs: consecutive and random pairs of the XML-style actions in ../shared/corpus
(generated SWE-style actions when the corpus is absent).
"""

from __future__ import annotations

import argparse
import difflib
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from srl_agent import reward  # noqa: E402
from srl_agent.actions import format_completion, parse_call, parse_completion, render  # noqa: E402


def load_pairs(n: int) -> tuple[list[tuple[str, str]], str]:
    from srl_agent.train.fixtures import corpus_pairs

    corpus = REPO.parent / "shared" / "corpus"
    pairs = corpus_pairs(corpus, n=n) if corpus.is_dir() else []
    if pairs:
        return pairs, f"real corpus actions ({corpus})"
    from srl_agent.policy.student_data import episodes

    acts = [render(s.action) for _, steps in episodes(200, 0) for s in steps]
    return [(acts[i], acts[(i * 7 + 3) % len(acts)]) for i in range(min(n, len(acts)))], "generated actions"


def timed(fn, pairs, repeat: int) -> tuple[float, list[float]]:
    best, out = float("inf"), []
    for _ in range(repeat):
        t = time.perf_counter()
        out = [fn(a, b) for a, b in pairs]
        best = min(best, time.perf_counter() - t)
    return len(pairs) / best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    pairs, source = load_pairs(args.pairs)
    long_share = sum(len(a) >= 200 or len(b) >= 200 for a, b in pairs) / len(pairs)
    print(f"{len(pairs)} pairs from {source}; {long_share:.0%} have a side >= 200 chars; backend: {reward.BACKEND}")
    print()
    print("| what | autojunk | difflib pairs/s | project pairs/s | speed-up | max abs diff |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for aj in (False, True):
        base_rate, base = timed(lambda a, b: difflib.SequenceMatcher(None, a, b, autojunk=aj).ratio(), pairs,
                                args.repeat)
        ours_rate, ours = timed(lambda a, b: reward.similarity(a, b, autojunk=aj), pairs, args.repeat)
        diff = max(abs(x - y) for x, y in zip(base, ours))
        worst = max(worst, diff)
        print(f"| similarity | {aj} | {base_rate:,.0f} | {ours_rate:,.0f} | {ours_rate / base_rate:.1f}x | {diff} |")
    completions = [(format_completion("think", parse_call(a)), b) for a, b in pairs]

    def plain_reward(c: str, e: str) -> float:
        p = parse_completion(c)
        return difflib.SequenceMatcher(None, render(p.action), e, autojunk=False).ratio() if p.ok else -1.0

    base_rate, base = timed(plain_reward, completions, args.repeat)
    ours_rate, ours = timed(reward.step_reward, completions, args.repeat)
    diff = max(abs(x - y) for x, y in zip(base, ours))
    worst = max(worst, diff)
    print(f"| step_reward (parse+render+ratio) | False | {base_rate:,.0f} | {ours_rate:,.0f} | "
          f"{ours_rate / base_rate:.1f}x | {diff} |")
    if worst != 0.0:
        print("FAIL: the project's numbers differ from difflib's", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
