"""The default student: a tiny Qwen2 causal LM with its own byte-level BPE tokenizer, built and warm-started here.

`init_student(out_dir)` writes a normal HF model folder (AutoModelForCausalLM / AutoTokenizer.from_pretrained
load it): Qwen2ForCausalLM with StudentSpec's sizes, a byte-level BPE tokenizer trained with `tokenizers`
on the built-in text (srl_agent.policy.student_data) plus the bundled trajectories of a source checkout,
Qwen2.5's chat template and special tokens (<|im_start|>, <|im_end|>, <|endoftext|>). Then a warm start:
a short SFT on generated step examples (loss on the completion only) so that most samples at temperature 1
parse as `<think>..</think>` + one call; the parse rate before and after goes into `student.json`.
Everything is seeded: the same seed on the same machine gives the same weights.

`resolve_model(name_or_path)`: "tiny" or None -> the default student folder (initialised when missing);
anything else is an HF id or a local path and is returned unchanged, so Qwen/Qwen2.5-Coder-7B-Instruct goes
through the same code on a GPU machine.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from srl_agent.errors import ModelLoadError

DEFAULT_NAME = "tiny"
SPEC_FILE = "student.json"
SCHEMA = "srl-student/1"
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Qwen2's pre-tokenizer split, so the tiny tokenizer cuts text the way Qwen's does.
_QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")


@dataclass(frozen=True)
class StudentSpec:
    """Sizes and warm-start settings of the default student (recorded in student.json)."""

    vocab_size: int = 4096           # BPE vocabulary incl. the 3 special tokens
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 384
    context_length: int = 4096       # max_position_embeddings (RoPE)
    seed: int = 0
    warm_steps: int = 250            # SFT steps of the warm start (0 = none)
    warm_batch: int = 8
    warm_lr: float = 4e-3
    warm_max_len: int = 768          # tokens per warm-start sequence (prompt + completion), longer ones cut
    eval_samples: int = 24           # prompts sampled at temperature 1 to measure the parse rate


def default_student_dir() -> Path:
    home = os.environ.get("SRL_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "srl-agent"
    return base / "students" / DEFAULT_NAME


def resolve_model(name_or_path: str | None) -> str:
    """`tiny`/None -> the default student's folder (built on first use); otherwise the id or path as given."""
    if name_or_path in (None, "", DEFAULT_NAME):
        path = default_student_dir()
        if not (path / SPEC_FILE).exists():
            init_student(path)
        return str(path)
    return str(name_or_path)


def student_cache_path(cache_root: str | Path, spec: StudentSpec = StudentSpec()) -> Path:
    """Where `cached_student` keeps the student for this version of the code, spec and bundled data (no build)."""
    import hashlib

    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(repr(spec).encode())
    for name in ("student.py", "student_data.py"):
        digest.update((here / name).read_bytes())
    for text in _bundled_trajectory_texts():  # a new bundled trajectory means a new tokenizer
        digest.update(text.encode("utf-8", "replace"))
    return Path(cache_root) / f"student-{digest.hexdigest()[:12]}"


def cached_student(cache_root: str | Path, spec: StudentSpec = StudentSpec()) -> Path:
    """A student built once per version of this code under cache_root (tests and benchmarks share it)."""
    path = student_cache_path(cache_root, spec)
    if not (path / SPEC_FILE).exists():
        init_student(path, spec, show_progress=False)
    return path


def load_student(name_or_path: str | None = None, dtype=None):
    """(model, tokenizer) for `--model` values; a user-facing ModelLoadError when it cannot be loaded."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except (OSError, ValueError) as exc:
        hint = "" if Path(path).exists() else " (not a local folder: is the HF id right and the hub reachable?)"
        raise ModelLoadError(f"cannot load model {name_or_path!r}{hint}: {exc}") from None
    return model, tokenizer


# ------------------------------------------------------------------------------------------------ tokenizer
def _bundled_trajectory_texts(limit_chars: int = 2_000_000) -> list[str]:
    """Strings of the bundled trajectories (trajectories/*.jsonl of a source checkout), if there are any."""
    root = Path(__file__).resolve().parents[2] / "trajectories"
    texts: list[str] = []
    total = 0

    def walk(x) -> None:
        nonlocal total
        if isinstance(x, str) and len(x) > 1:
            texts.append(x)
            total += len(x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    for file in sorted(root.glob("*.jsonl")) if root.is_dir() else []:
        for line in file.read_text(errors="replace").splitlines():
            if total >= limit_chars:
                return texts
            try:
                walk(json.loads(line))
            except json.JSONDecodeError:
                continue
    return texts


def _chat_template() -> str:
    from importlib.resources import files

    return (files("trl") / "chat_templates" / "qwen2_5.jinja").read_text()


def build_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE PreTrainedTokenizerFast with Qwen's split, special tokens and chat template."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_QWEN_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    fast.chat_template = _chat_template()
    fast.model_max_length = StudentSpec.context_length
    return fast


# --------------------------------------------------------------------------------------------------- model
def build_model(spec: StudentSpec, tokenizer):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(spec.seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=spec.hidden_size, intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers, num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads, max_position_embeddings=spec.context_length,
        tie_word_embeddings=True, rope_theta=10000.0,
        bos_token_id=None, eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


@dataclass
class WarmStartReport:
    parse_rate_before: float
    parse_rate_after: float
    greedy_parse_rate_after: float
    steps: int
    seconds: float
    final_loss: float | None = None
    losses: list[float] = field(default_factory=list)


def parse_rate(model, tokenizer, prompts: list[list[dict]], *, temperature: float = 1.0, seed: int = 0,
               max_new_tokens: int = 128) -> float:
    """Fraction of sampled completions that parse (srl_agent.actions.parse_completion)."""
    import torch

    from srl_agent.actions import parse_completion

    model.eval()
    tokenizer.padding_side = "left"
    torch.manual_seed(seed)
    ok = 0
    for i in range(0, len(prompts), 8):
        texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts[i:i + 8]]
        enc = tokenizer(texts, return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=temperature > 0,
                                 temperature=temperature if temperature > 0 else None, top_k=0 if temperature > 0 else None,
                                 pad_token_id=tokenizer.pad_token_id)
        for row in out[:, enc["input_ids"].shape[1]:]:
            ok += parse_completion(tokenizer.decode(row, skip_special_tokens=True)).ok
    return ok / max(len(prompts), 1)


def _encode_pair(tokenizer, prompt: list[dict], target: str, max_len: int) -> tuple[list[int], list[int]]:
    p = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    p_ids = tokenizer(p, add_special_tokens=False)["input_ids"]
    t_ids = tokenizer(target + "<|im_end|>", add_special_tokens=False)["input_ids"]
    p_ids = p_ids[-max(max_len - len(t_ids), 0):] if len(p_ids) + len(t_ids) > max_len else p_ids
    ids = (p_ids + t_ids)[-max_len:]
    labels = ([-100] * len(p_ids) + t_ids)[-max_len:]
    return ids, labels


def warm_start(model, tokenizer, spec: StudentSpec, progress: Callable[[int, float], None] | None = None
               ) -> WarmStartReport:
    """Short SFT on generated step examples (completion-only loss) so that the student's outputs parse."""
    import random

    import torch

    from srl_agent.policy.student_data import step_examples

    start = time.perf_counter()
    pairs = step_examples(max(spec.warm_steps * spec.warm_batch // 5, 40), seed=spec.seed)
    held_out = [p for p, _ in step_examples(spec.eval_samples, seed=spec.seed + 10_000)][: spec.eval_samples]
    before = parse_rate(model, tokenizer, held_out, seed=spec.seed)
    encoded = [_encode_pair(tokenizer, p, t, spec.warm_max_len) for p, t in pairs]
    rng = random.Random(spec.seed)
    torch.manual_seed(spec.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.warm_lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 10) * max(0.05, 1 - s / spec.warm_steps))
    losses: list[float] = []
    model.train()
    for step in range(spec.warm_steps):
        batch = rng.sample(encoded, spec.warm_batch)
        width = max(len(ids) for ids, _ in batch)
        ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(i)) + i for i, _ in batch])
        labels = torch.tensor([[-100] * (width - len(l)) + l for _, l in batch])
        mask = torch.tensor([[0] * (width - len(i)) + [1] * len(i) for i, _ in batch])
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(round(loss.item(), 4))
        if progress:
            progress(step, loss.item())
    after = parse_rate(model, tokenizer, held_out, seed=spec.seed)
    greedy = parse_rate(model, tokenizer, held_out, temperature=0.0, seed=spec.seed)
    return WarmStartReport(before, after, greedy, spec.warm_steps, round(time.perf_counter() - start, 1),
                           losses[-1] if losses else None, losses)


def init_student(out_dir: str | Path | None = None, spec: StudentSpec = StudentSpec(), *,
                 show_progress: bool = True, extra_texts: list[str] = ()) -> dict:
    """Build, warm-start and save the default student; returns the record written to student.json.
    `extra_texts` (e.g. the contents of corpus files) join the tokenizer's training text."""
    import torch
    from tqdm import tqdm

    from srl_agent.policy.student_data import tokenizer_texts

    out = Path(out_dir) if out_dir else default_student_dir()
    torch.manual_seed(spec.seed)
    bundled = _bundled_trajectory_texts()
    tokenizer = build_tokenizer(tokenizer_texts(spec.seed) + bundled + list(extra_texts), spec.vocab_size)
    model = build_model(spec, tokenizer)
    report = None
    if spec.warm_steps > 0:
        bar = tqdm(total=spec.warm_steps, desc="warm start", disable=not show_progress, leave=False)

        def tick(_step: int, loss: float) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}")

        # The warm start runs on one thread: CPU results then do not depend on the thread count.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            report = warm_start(model, tokenizer, spec, tick)
        finally:
            torch.set_num_threads(threads)
            bar.close()
    tmp = out.with_name(out.name + ".partial")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    record = {"schema": SCHEMA, "spec": asdict(spec),
              "parameters": sum(p.numel() for p in model.parameters()),
              "vocab_size": len(tokenizer), "context_length": spec.context_length,
              "tokenizer_texts": {"built_in": len(tokenizer_texts(spec.seed)), "bundled_trajectory_strings": len(bundled),
                                  "extra_texts": len(extra_texts)},
              "warm_start": None if report is None else {k: v for k, v in asdict(report).items() if k != "losses"}}
    (tmp / SPEC_FILE).write_text(json.dumps(record, indent=2) + "\n")
    if out.exists():
        import shutil

        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out)  # the folder appears complete or not at all (resolve_model checks student.json)
    return record
