"""Dynamic sampling for GRPO: drop prompt groups that carry no signal and refill the batch with fresh prompts.

The group filters are pure functions (`filter_groups` + a predicate) so that every trainer uses the same code:
SRL keeps a group when the population std of its rewards is > epsilon (`has_signal`); the RLVR trainer keeps
it when 0 < #correct < G (`partially_correct`, the DAPO filter).

Why `_generate_and_score_completions` is the extension point (TRL 1.16): it is the one method that turns a
generation batch of prompts (each repeated G times by RepeatSampler) into the tensors the loss uses, after
rewards and group advantages are known. Overriding it lets us look at the rewards, drop whole groups, call it
again on freshly sampled prompts, and hand `_prepare_inputs` a batch of the usual size, while generation
(transformers or vLLM), reward computation, advantage normalisation, logging and the loss stay TRL's own.
A `rollout_func` cannot do this: it runs before the rewards exist and must return exactly one completion per
input. A `reward_func` cannot either: it can only change numbers, not which prompts are in the batch.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from typing import Any, Callable, Sequence

log = logging.getLogger(__name__)

DEFAULT_EPSILON = 1e-4


def population_std(values: Sequence[float]) -> float:
    n = len(values)
    if n == 0:
        return 0.0
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / n)


def has_signal(group: Sequence[float], epsilon: float = DEFAULT_EPSILON) -> bool:
    """SRL's rule: a group is useful when its rewards' population std is > epsilon."""
    return population_std(group) > epsilon


def partially_correct(group: Sequence[float], threshold: float = 0.5) -> bool:
    """DAPO's rule for outcome rewards: 0 < #correct < G (correct = reward > threshold)."""
    correct = sum(1 for r in group if r > threshold)
    return 0 < correct < len(group)


def filter_groups(rewards: Sequence[float], group_size: int,
                  keep: Callable[[Sequence[float]], bool] = has_signal) -> list[bool]:
    """One bool per consecutive group of `group_size` rewards: whether `keep` accepts it."""
    if group_size < 1 or len(rewards) % group_size:
        raise ValueError(f"{len(rewards)} rewards do not split into groups of {group_size}")
    return [bool(keep(rewards[i:i + group_size])) for i in range(0, len(rewards), group_size)]


@dataclass(frozen=True)
class DynamicSampling:
    """Settings: `enabled`, the std `epsilon`, and `max_rounds`, the cap on extra generation rounds per step
    (when hit, the batch is completed with dropped groups whose advantages are set to 0, and a warning says so)."""

    enabled: bool = True
    epsilon: float = DEFAULT_EPSILON
    max_rounds: int = 4

    def keep(self, group: Sequence[float]) -> bool:
        return has_signal(group, self.epsilon)


# ------------------------------------------------------------------------------ batching of TRL's output dict
_LEFT_PADDED = {"prompt_ids": "pad", "prompt_mask": 0}
_RIGHT_PAD = {"completion_ids": "pad", "completion_mask": 0, "tool_mask": 1}


def split_rows(output: dict[str, Any], rows: int, group_size: int) -> list[dict[str, Any]]:
    """Cut TRL's batch dict into one dict per group (tensors and lists with `rows` entries are sliced)."""
    groups = []
    for start in range(0, rows, group_size):
        part = {}
        for key, value in output.items():
            if hasattr(value, "shape") and value.dim() > 0 and value.shape[0] == rows:
                part[key] = value[start:start + group_size]
            elif isinstance(value, list) and len(value) == rows:
                part[key] = value[start:start + group_size]
        groups.append(part)
    return groups


def merge_rows(groups: list[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """Concatenate per-group dicts, padding sequence tensors to a common width (prompts on the left)."""
    import torch
    import torch.nn.functional as F

    merged: dict[str, Any] = {}
    for key in groups[0]:
        values = [g[key] for g in groups]
        if isinstance(values[0], list):
            merged[key] = [x for v in values for x in v]
            continue
        if values[0].dim() >= 2:
            width = max(v.shape[1] for v in values)
            left = key in _LEFT_PADDED
            fill = _LEFT_PADDED.get(key, _RIGHT_PAD.get(key, 0))
            fill = pad_token_id if fill == "pad" else fill
            values = [F.pad(v, (width - v.shape[1], 0) if left else (0, width - v.shape[1]), value=fill)
                      for v in values]
        merged[key] = torch.cat(values, dim=0)
    mask = merged["completion_mask"] * merged["tool_mask"] if "tool_mask" in merged else merged["completion_mask"]
    merged["num_items_in_batch"] = mask.sum()
    return merged


def make_trainer_class():
    """GRPOTrainer with dynamic sampling (built lazily so importing this module does not import TRL)."""
    from trl import GRPOTrainer

    from srl_agent.errors import ConfigError

    class DynamicSamplingGRPOTrainer(GRPOTrainer):
        """GRPOTrainer that drops zero-signal prompt groups and refills the batch (see the module docstring)."""

        def __init__(self, *args: Any, dynamic_sampling: DynamicSampling = DynamicSampling(), **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.dynamic_sampling = dynamic_sampling
            self._last_rewards: list[float] | None = None
            if dynamic_sampling.enabled and self.accelerator.num_processes > 1:
                raise ConfigError("dynamic sampling runs in one process for now: set dynamic_sampling.enabled: "
                                  "false for multi-GPU runs")

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            weighted = (rewards_per_func * self.reward_weights.to(rewards_per_func.device).unsqueeze(0)).nansum(dim=1)
            self._last_rewards = weighted.tolist()
            return rewards_per_func

        def _fresh_inputs(self, n_prompts: int, round_no: int) -> list[dict]:
            # Seeded by step and round so a resumed run draws the same refills as an uninterrupted one.
            rng = random.Random(self.args.seed * 1_000_003 + self.state.global_step * 1009 + round_no)
            size = len(self.train_dataset)
            rows = [self.train_dataset[rng.randrange(size)] for _ in range(n_prompts)]
            return [dict(row) for row in rows for _ in range(self.num_generations)]

        def _generate_and_score_completions(self, inputs):
            if not self.model.training or not self.dynamic_sampling.enabled:
                return super()._generate_and_score_completions(inputs)
            G = self.num_generations
            need = len(inputs) // G
            kept: list[dict] = []
            dropped: list[dict] = []
            generated = 0
            batch, round_no = inputs, 0
            while True:
                out = super()._generate_and_score_completions(batch)
                keep = filter_groups(self._last_rewards, G, self.dynamic_sampling.keep)
                for group, ok in zip(split_rows(out, len(batch), G), keep):
                    (kept if ok else dropped).append(group)
                generated += len(keep)
                if len(kept) >= need or round_no >= self.dynamic_sampling.max_rounds:
                    break
                round_no += 1
                rate = max(len(kept) / generated, 1.0 / need)
                batch = self._fresh_inputs(min(need, math.ceil((need - len(kept)) / rate)), round_no)
            n_dropped = len(dropped)
            cap_hit = len(kept) < need
            if cap_hit:
                log.warning("[dynamic sampling] step %d: only %d/%d prompt groups had reward std > %g after %d extra "
                            "rounds (max_rounds); the rest of the batch is zero-advantage groups",
                            self.state.global_step, len(kept), need, self.dynamic_sampling.epsilon, round_no)
                for group in dropped[: need - len(kept)]:
                    group["advantages"] = group["advantages"] * 0
                kept += dropped[: need - len(kept)]
            metrics = self._metrics["train"]
            metrics["dynamic_sampling/dropped_frac"].append(n_dropped / generated)
            metrics["dynamic_sampling/extra_rounds"].append(float(round_no))
            metrics["dynamic_sampling/extra_generations"].append(float((generated - need) * G))
            metrics["dynamic_sampling/cap_hit"].append(float(cap_hit))
            return merge_rows(kept[:need], self._tokenizer.pad_token_id)

    return DynamicSamplingGRPOTrainer
