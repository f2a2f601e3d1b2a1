"""A local causal LM (HF id, local path, or `tiny` for the default student) as a Policy, via transformers."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

from srl_agent.errors import ModelLoadError
from srl_agent.policy.base import GenerationConfig, Messages

# Used only when a tokenizer has no chat template of its own (ChatML, as the Qwen family writes it).
_CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
           "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def resolve_model_path(model: str) -> str:
    """`tiny` (and other names the student module knows) to a local path; anything else unchanged."""
    try:
        from srl_agent.policy.student import resolve_model
    except ImportError:
        return model
    resolved = resolve_model(model)
    return str(resolved[0] if isinstance(resolved, tuple) else resolved)


class TransformersPolicy:
    """Greedy or sampled generation with one model shared by every thread (a lock serialises calls;
    `generate_batch` pads a batch to one forward pass, which is how eval-steps uses it)."""

    def __init__(self, model: str, *, gen: GenerationConfig | None = None, device: str | None = None,
                 dtype: str | None = None, batch_size: int = 8) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.gen = gen or GenerationConfig()
        self.batch_size = max(1, batch_size)
        path = resolve_model_path(model)
        self.name = model
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = getattr(torch, dtype) if dtype else (torch.bfloat16 if self.device == "cuda" else torch.float32)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
        except (OSError, ValueError) as exc:
            hint = "" if Path(path).exists() else " (not a local path: is the HF id right, and is the hub reachable?)"
            raise ModelLoadError(f"cannot load model {model!r}{hint}: {exc}") from None
        self.model.to(self.device).eval()
        self.tokenizer.padding_side = "left"  # decoder-only batches pad on the left so outputs line up
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if not getattr(self.tokenizer, "chat_template", None):
            self.tokenizer.chat_template = _CHATML
        self._lock = threading.Lock()
        window = getattr(self.model.config, "max_position_embeddings", None)
        self.max_prompt_tokens = window - self.gen.max_new_tokens if window else None
        if self.gen.seed is not None:
            torch.manual_seed(self.gen.seed)

    def render(self, messages: Messages) -> str:
        return self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

    def count_tokens(self, messages: Messages) -> int:
        return len(self.tokenizer(self.render(messages), add_special_tokens=False)["input_ids"])

    def generate(self, messages: Messages) -> str:
        return self.generate_batch([messages])[0]

    def generate_batch(self, batch: Sequence[Messages]) -> list[str]:
        out: list[str] = []
        for i in range(0, len(batch), self.batch_size):
            out.extend(self._generate_chunk(batch[i: i + self.batch_size]))
        return out

    def _generate_chunk(self, batch: Sequence[Messages]) -> list[str]:
        import torch

        texts = [self.render(m) for m in batch]
        with self._lock:
            enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            sample = self.gen.temperature > 0
            kw = dict(max_new_tokens=self.gen.max_new_tokens, do_sample=sample,
                      pad_token_id=self.tokenizer.pad_token_id)
            if sample:
                kw.update(temperature=self.gen.temperature, top_p=self.gen.top_p)
            else:
                kw.update(temperature=None, top_p=None, top_k=None)
            with torch.no_grad():
                ids = self.model.generate(**enc, **kw)
        new = ids[:, enc["input_ids"].shape[1]:]
        return self.tokenizer.batch_decode(new, skip_special_tokens=True)
