"""The Policy protocol: given chat messages, return the raw completion text (the agent parses it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

from srl_agent.errors import SRLError

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": str}, as chat templates take them
Messages = Sequence[Message]


class PolicyError(SRLError, RuntimeError):
    """A policy could not produce a completion (endpoint down after retries, script exhausted, ...)."""


@runtime_checkable
class Policy(Protocol):
    """Anything that writes the next assistant turn. `name` labels runs and predictions."""

    name: str

    def generate(self, messages: Messages) -> str: ...


@runtime_checkable
class BatchPolicy(Policy, Protocol):
    """A policy that can answer many prompts at once (batched generation on one model)."""

    def generate_batch(self, batch: Sequence[Messages]) -> list[str]: ...


@runtime_checkable
class EpisodicPolicy(Policy, Protocol):
    """A policy with per-episode state (scripts): `episode(task)` returns a fresh policy for one episode.

    The agent calls it once per episode, so one object can serve many tasks and threads at once.
    """

    def episode(self, task) -> Policy: ...


@dataclass
class GenerationConfig:
    """Sampling settings shared by the model-backed policies. temperature 0 means greedy."""

    max_new_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        from srl_agent.errors import ConfigError

        if self.max_new_tokens < 1:
            raise ConfigError("max_new_tokens must be >= 1")
        if self.temperature < 0:
            raise ConfigError("temperature must be >= 0 (0 = greedy)")
        if not 0 < self.top_p <= 1:
            raise ConfigError("top_p must be in (0, 1]")


def generate_batch(policy: Policy, batch: Sequence[Messages]) -> list[str]:
    """Batched generation when the policy supports it, one prompt at a time otherwise."""
    if isinstance(policy, BatchPolicy):
        return list(policy.generate_batch(batch))
    return [policy.generate(messages) for messages in batch]


def start_episode(policy: Policy, task) -> Policy:
    """The policy to use for one episode on `task` (a fresh copy for scripted policies)."""
    if isinstance(policy, EpisodicPolicy):
        return policy.episode(task)
    return policy


def load_policy(kind: str, model: str, gen: GenerationConfig | None = None, **kw) -> Policy:
    """Build a policy by kind: 'transformers' (HF id, path, or 'tiny'), 'openai' (served model name),
    'scripted' (a canonical trajectory JSONL file whose actions are replayed per task)."""
    from srl_agent.errors import ConfigError

    gen = gen or GenerationConfig()
    if kind == "transformers":
        from srl_agent.policy.transformers_policy import TransformersPolicy

        return TransformersPolicy(model, gen=gen, **kw)
    if kind == "openai":
        from srl_agent.policy.openai_policy import OpenAIPolicy

        return OpenAIPolicy(model, gen=gen, **kw)
    if kind == "scripted":
        from srl_agent.policy.scripted import ReplayPolicy

        return ReplayPolicy.from_file(model)
    raise ConfigError(f"unknown policy kind {kind!r}: use transformers, openai or scripted")
