"""The default student's warm start: a seeded, resumable SFT on step examples (loss on the completion only), and
the parse rate that says whether the student can act (srl_agent.actions.parse_completion is the judge).

The student attends to a sliding window of W tokens in each of its L layers, so a completion token depends on
at most the last L x W tokens before it. The warm start therefore trains on the last L x W prompt tokens of each
example plus its completion, which gives the completion exactly the logits it gets after the full prompt at
evaluation time (tested), at a fraction of the cost of full-length sequences.

Resuming: every `checkpoint_every` steps the model, optimizer, schedule, batch sampler and torch RNG states go to
one file (written atomically); a build that is killed continues from the last one and ends with the same weights,
bit for bit, as one that never stopped (same thread count, same machine).
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

logger = logging.getLogger(__name__)

Encoded = tuple[list[int], int]  # token ids, and how many of them are prompt (no loss)


@dataclass
class WarmStartResult:
    """What the warm start did (the parse rates are measured separately, see `parse_rate`)."""

    steps: int
    seconds: float
    resumed_at: int | None
    final_loss: float | None
    losses: list[float] = field(default_factory=list)


def encode(tokenizer, prompt: list[dict], target: str, prompt_tail: int, target_cap: int) -> Encoded:
    """The last `prompt_tail` tokens of the rendered prompt and at most `target_cap` tokens of the completion
    (with its end-of-turn token when it fits)."""
    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    p_ids = tokenizer(text, add_special_tokens=False)["input_ids"][-prompt_tail:]
    t_ids = tokenizer(target + tokenizer.eos_token, add_special_tokens=False)["input_ids"][:target_cap]
    return p_ids + t_ids, len(p_ids)


def _batch_loss(model, batch: list[Encoded], pad_id: int):
    """Mean cross-entropy over the completion tokens of a right-padded batch; logits only where there is loss."""
    import torch
    import torch.nn.functional as F

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    target = torch.full((len(batch), width), -100, dtype=torch.long)
    for i, (row, n_prompt) in enumerate(batch):
        ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
        target[i, n_prompt:len(row)] = ids[i, n_prompt:len(row)]
    hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state[:, :-1]
    labels = target[:, 1:]
    keep = labels != -100
    logits = model.lm_head(hidden[keep])
    return F.cross_entropy(logits.float(), labels[keep])


def _save(path: Path, state: dict) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a kill mid-write leaves the previous checkpoint intact


def train(model, tokenizer, pools: Sequence[tuple[float, list[Encoded]]], *, steps: int, batch_size: int, lr: float,
          seed: int, checkpoint: Path | None = None, checkpoint_every: int = 50,
          progress: Callable[[int, float], None] | None = None) -> WarmStartResult:
    """AdamW for `steps` steps; each batch row comes from pool i with probability pools[i][0]. Resumes from
    `checkpoint` when it exists (the caller makes sure it belongs to this build)."""
    import torch

    start = time.perf_counter()
    weights = [w for w, _ in pools]
    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    warmup = max(1, min(10, steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * max(0.05, 1 - s / max(steps, 1)))
    losses: list[float] = []
    first, resumed_at = 0, None
    if checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["schedule"])
        rng.setstate(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        first = resumed_at = state["step"]
        losses = list(state["losses"])
        logger.info("warm start: resuming at step %d of %d from %s", first, steps, checkpoint)
    model.train()
    for step in range(first, steps):
        batch = [rng.choice(pools[rng.choices(range(len(pools)), weights)[0]][1]) for _ in range(batch_size)]
        loss = _batch_loss(model, batch, tokenizer.pad_token_id)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 4))
        if progress:
            progress(step, losses[-1])
        done = step + 1
        if checkpoint is not None and done < steps and done % checkpoint_every == 0:
            _save(checkpoint, {"step": done, "model": model.state_dict(), "optimizer": opt.state_dict(),
                               "schedule": sched.state_dict(), "sampler": rng.getstate(),
                               "torch_rng": torch.get_rng_state(), "losses": losses})
    model.eval()
    return WarmStartResult(steps, round(time.perf_counter() - start, 1), resumed_at,
                           losses[-1] if losses else None, losses)


@dataclass
class ParseRate:
    """How many sampled completions parse, and why the others did not."""

    rate: float
    prompts: int
    errors: dict[str, int]


def parse_rate(model, tokenizer, prompts: list[list[dict]], *, temperature: float = 1.0, seed: int = 0,
               max_new_tokens: int = 256, batch_size: int = 16) -> ParseRate:
    """One completion per prompt, sampled at `temperature` from the full distribution (top_k 0, top_p 1;
    0 = greedy), judged by parse_completion."""
    import torch

    from srl_agent.actions import parse_completion

    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    torch.manual_seed(seed)
    errors: Counter = Counter()
    sample = temperature > 0
    kw = dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0) if sample else \
        dict(do_sample=False, temperature=None, top_k=None, top_p=None)
    try:
        for i in range(0, len(prompts), batch_size):
            texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                     for p in prompts[i:i + batch_size]]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.no_grad():
                out = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **kw)
            for row in out[:, enc["input_ids"].shape[1]:]:
                parsed = parse_completion(tokenizer.decode(row, skip_special_tokens=True))
                if not parsed.ok:
                    errors[parsed.error] += 1
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    n = len(prompts)
    return ParseRate((n - sum(errors.values())) / max(n, 1), n, dict(errors.most_common()))
