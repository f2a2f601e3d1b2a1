"""The compute budget and checkpoint selection: the trainer process's CPU seconds (selection evaluations paused
out of it), checked after every optimizer step; the selection split scored at 0, B/4, B/2, 3B/4 and B, the best
model (ties: the later) saved. Added to every Trainer built inside `budgeted(...)` (transformers'
DEFAULT_CALLBACKS), so SFT, SRL and RLVR are budgeted the same way through their normal entry points."""

from __future__ import annotations

import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

EVAL_BATCH = 16


class CpuClock:
    """Process CPU seconds since `start()`, less the paused stretches (the selection evaluations)."""

    def __init__(self) -> None:
        self.t0: float | None = None
        self.paused = 0.0
        self.paused_wall = 0.0

    def start(self) -> None:
        if self.t0 is None:
            self.t0 = time.process_time()

    def elapsed(self) -> float:
        return 0.0 if self.t0 is None else time.process_time() - self.t0 - self.paused

    @contextmanager
    def pause(self):
        c, w = time.process_time(), time.monotonic()
        try:
            yield
        finally:
            self.paused += time.process_time() - c
            self.paused_wall += time.monotonic() - w


def generate_texts(model, tokenizer, prompts: list, max_new_tokens: int, window: int) -> tuple[list[str], int, int]:
    """Greedy outputs for chat prompts, batched by length; (texts in input order, generated tokens, prompts cut).
    A prompt longer than the window less max_new_tokens keeps its last tokens."""
    import torch

    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    room = window - max_new_tokens
    cut = sum(len(x) > room for x in ids)
    ids = [x[-room:] for x in ids]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    outs: list[str] = [""] * len(ids)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    generated = 0
    was_training = model.training
    model.eval()
    try:
        for b in range(0, len(order), EVAL_BATCH):
            batch = order[b:b + EVAL_BATCH]
            width = max(len(ids[i]) for i in batch)
            input_ids = torch.tensor([[pad] * (width - len(ids[i])) + ids[i] for i in batch])
            mask = torch.tensor([[0] * (width - len(ids[i])) + [1] * len(ids[i]) for i in batch])
            with torch.no_grad():
                out = model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                                     do_sample=False, pad_token_id=pad)
            for i, row in zip(batch, out[:, width:]):
                outs[i] = tokenizer.decode(row, skip_special_tokens=True)
                generated += int((row != pad).sum())
    finally:
        model.train(was_training)
    return outs, generated, cut


def step_scores(model, tokenizer, rows: dict, max_new_tokens: int, window: int) -> dict:
    """Mean step reward and parse rate of greedy outputs on step examples (the protocol's measures 1 and 2)."""
    from srl_agent.actions import parse_completion
    from srl_agent.reward import step_reward

    texts, generated, cut = generate_texts(model, tokenizer, rows["prompt"], max_new_tokens, window)
    rewards = [step_reward(t, e) for t, e in zip(texts, rows["expert_action"])]
    parsed = [parse_completion(t).ok for t in texts]
    n = max(1, len(texts))
    return {"step_reward": sum(rewards) / n, "parse_rate": sum(parsed) / n, "examples": len(texts),
            "generated_tokens": generated, "prompts_cut": cut}


@dataclass
class Selector:
    """Scores the model on the selection split at the marks and keeps the best (ties: the later) in best_dir."""

    rows: dict
    best_dir: Path
    max_new_tokens: int
    window: int
    best_score: float
    points: list = field(default_factory=list)
    best_at: float = 0.0
    saved: bool = False       # False: the best is still the starting student

    def score(self, model, tokenizer, cpu: float, step: int, stage: str) -> None:
        s = step_scores(model, tokenizer, self.rows, self.max_new_tokens, self.window)
        self.points.append({"cpu_seconds": round(cpu, 2), "step": step, "stage": stage,
                            "step_reward": s["step_reward"], "parse_rate": s["parse_rate"]})
        if s["step_reward"] >= self.best_score:
            self.best_score, self.best_at = s["step_reward"], round(cpu, 2)
            tmp = self.best_dir.with_name(self.best_dir.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            model.save_pretrained(str(tmp))
            tokenizer.save_pretrained(str(tmp))
            shutil.rmtree(self.best_dir, ignore_errors=True)
            tmp.rename(self.best_dir)
            self.saved = True


@dataclass
class Counters:
    """What a run did: optimizer steps, tokens generated while training, tokens trained (TRL's num_tokens)."""

    steps: int = 0
    generated_tokens: int = 0
    trained_tokens: int = 0
    stage_tokens: int = 0     # num_tokens of the current stage (TRL restarts it per trainer)
    counting: bool = True     # off during the selection evaluations


def budget_callback(clock: CpuClock, end: float, marks: list[float], selector: Selector | None,
                    counters: Counters, stage: str):
    """Stops training at the first optimizer step with clock >= end; scores the selection split at each mark
    passed (one evaluation when one step passes several), and at the end if training stopped before it."""
    from transformers import TrainerCallback

    pending = sorted(marks)

    class Budget(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kw):
            clock.start()
            counters.stage_tokens = 0
            _count_generation(model, counters, clock)

        def _evaluate(self, state, model, tokenizer) -> None:
            if selector is not None:
                counters.counting = False
                try:
                    with clock.pause():
                        selector.score(model, tokenizer, clock.elapsed(), state.global_step, stage)
                finally:
                    counters.counting = True

        def on_step_end(self, args, state, control, model=None, processing_class=None, **kw):
            counters.steps += 1
            now = clock.elapsed()
            if pending and now >= pending[0]:
                while pending and now >= pending[0]:
                    pending.pop(0)
                self._evaluate(state, model, processing_class)
            if now >= end:
                control.should_training_stop = True

        def on_log(self, args, state, control, logs=None, **kw):
            tokens = (logs or {}).get("num_tokens")
            if tokens is not None:
                counters.trained_tokens += int(tokens) - counters.stage_tokens
                counters.stage_tokens = int(tokens)

        def on_train_end(self, args, state, control, model=None, processing_class=None, **kw):
            if pending:  # ended before the budget (max_steps reached): the end point is where it stopped
                pending.clear()
                self._evaluate(state, model, processing_class)

    return Budget()


def _count_generation(model, counters: Counters, clock: CpuClock) -> None:
    """Count the tokens the trainer samples (model.generate outside the paused evaluations)."""
    if model is None or getattr(model.generate, "_evidence_counted", False):
        return
    inner = model.generate

    def generate(*args, **kw):
        out = inner(*args, **kw)
        ids = kw.get("input_ids", args[0] if args else None)
        if counters.counting and ids is not None and hasattr(out, "shape"):
            counters.generated_tokens += int(out.shape[0] * (out.shape[1] - ids.shape[1]))
        return out

    generate._evidence_counted = True
    model.generate = generate


@contextmanager
def budgeted(callback):
    import transformers.trainer as tt

    tt.DEFAULT_CALLBACKS.append(callback)
    try:
        yield
    finally:
        tt.DEFAULT_CALLBACKS.remove(callback)
