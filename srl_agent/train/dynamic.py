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

Several processes (DDP / DeepSpeed / FSDP ranks): TRL's `_calculate_rewards` gathers every rank's rewards, in
rank order, before it normalises them per group, so every rank sees the same global reward list. The keep
decision is made on that list, per global group, identically on every rank, so all ranks run the same number
of refill rounds (each round is a collective: generation, reward gathering). Refill prompts are drawn from one
seeded stream shared by all ranks and dealt out in TRL's own layout (rank k takes the k-th contiguous slice).
At the end, the first `need` kept groups (in round, then global group order) are the global batch, and its
rows are dealt out so that every rank gets exactly its usual number of rows (`plan_rows` + `assemble`):
rows that stay on their rank are not moved, the others travel once (`gather_object`). With one process the
same code runs with nothing to move, so one process and N processes keep the same groups for the same seed
(when G x refill prompts splits evenly over the ranks; otherwise refills round up to the next size that does).
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from typing import Any, Callable, Sequence

logger = logging.getLogger(__name__)

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


# --------------------------------------------------------------------- the batch plan across rounds and ranks
@dataclass(frozen=True)
class GroupRef:
    """A prompt group of one generation round: `index` counts groups in the round's global (gathered) order."""

    round: int
    index: int


@dataclass(frozen=True)
class RowMove:
    """Where one row of the final global batch comes from (rank, round, local row) and goes to (rank, row)."""

    src_rank: int
    round: int
    src_row: int
    dst_rank: int
    dst_row: int
    zero_advantage: bool


def select_groups(kept: list[GroupRef], dropped: list[GroupRef], need: int) -> tuple[list[GroupRef], int]:
    """The groups of the final batch (the first `need` kept ones, then dropped ones when the cap stopped the
    refills early) and how many of them are such zero-advantage fillers."""
    chosen = kept[:need]
    fill = dropped[: need - len(chosen)]
    return chosen + fill, len(fill)


def refill_size(need: int, kept: int, generated: int, group_size: int, world: int) -> int:
    """Prompts to sample in the next round: the missing groups over the keep rate so far (at most `need`),
    rounded up so that its G x prompts rows split evenly over `world` ranks."""
    rate = max(kept / generated, 1.0 / need)
    n = min(need, math.ceil((need - kept) / rate))
    step = world // math.gcd(group_size, world)
    return max(step, math.ceil(n / step) * step)


def plan_rows(groups: list[GroupRef], fillers: int, round_rows: list[int], group_size: int, world: int
              ) -> list[RowMove]:
    """Every row of the final batch: group f's row c is final row f*G + c, which rank r receives when it falls in
    its share [r*L, (r+1)*L); the row lives on the rank that generated it (`round_rows[k]` rows per rank in
    round k, laid out in rank order as TRL gathers them)."""
    total = len(groups) * group_size
    if total % world:
        raise ValueError(f"{total} rows do not split over {world} processes")
    share = total // world
    moves = []
    for f, ref in enumerate(groups):
        per_rank = round_rows[ref.round]
        for c in range(group_size):
            src = ref.index * group_size + c
            dst = f * group_size + c
            moves.append(RowMove(src // per_rank, ref.round, src % per_rank, dst // share, dst % share,
                                 f >= len(groups) - fillers))
    return moves


def assemble(outputs: list[dict[str, Any]], round_rows: list[int], moves: list[RowMove], rank: int,
             exchange: Callable[[list], list], pad_token_id: int) -> dict[str, Any]:
    """This rank's part of the final batch, in order: rows from its own rounds' outputs, and rows received
    through `exchange` (an all-gather of Python objects, called on every rank whenever any row changes rank;
    only those rows are sent, on the CPU)."""
    rows = [split_rows(out, n, 1) for out, n in zip(outputs, round_rows)]

    def take(move: RowMove) -> dict[str, Any]:
        row = dict(rows[move.round][move.src_row])
        if move.zero_advantage:
            row["advantages"] = row["advantages"] * 0
        return row

    mine = {m.dst_row: take(m) for m in moves if m.src_rank == rank and m.dst_rank == rank}
    if any(m.src_rank != m.dst_rank for m in moves):
        outgoing = [(m.dst_rank, m.dst_row, {k: v.cpu() if hasattr(v, "cpu") else v for k, v in take(m).items()})
                    for m in moves if m.src_rank == rank and m.dst_rank != rank]
        device = next(v.device for v in outputs[0].values() if hasattr(v, "device"))
        for dst_rank, dst_row, row in exchange(outgoing):
            if dst_rank == rank:
                mine[dst_row] = {k: v.to(device) if hasattr(v, "to") else v for k, v in row.items()}
    return merge_rows([mine[i] for i in sorted(mine)], pad_token_id)


class DynamicSamplingMixin:
    """Dynamic sampling for a GRPOTrainer subclass (mixed in before it, so `super()` is the trainer): drops
    zero-signal prompt groups and refills the batch (see the module docstring). A plain class here, so this
    module imports without TRL; make_trainer_class() puts it on top of TRL's GRPOTrainer."""

    def __init__(self, *args: Any, dynamic_sampling: DynamicSampling = DynamicSampling(), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.dynamic_sampling = dynamic_sampling
        self._last_rewards: list[float] | None = None

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        # TRL returns the rewards of every rank (gathered, in rank order): the keep decision is global.
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        weighted = (rewards_per_func * self.reward_weights.to(rewards_per_func.device).unsqueeze(0)).nansum(dim=1)
        self._last_rewards = weighted.tolist()
        return rewards_per_func

    def _fresh_inputs(self, n_prompts: int, round_no: int) -> list[dict]:
        """This rank's slice of n_prompts x G refill rows. Seeded by step and round, the same on every rank,
        so a resumed run draws the same refills as an uninterrupted one and the ranks agree on them."""
        rng = random.Random(self.args.seed * 1_000_003 + self.state.global_step * 1009 + round_no)
        size = len(self.train_dataset)
        rows = [self.train_dataset[rng.randrange(size)] for _ in range(n_prompts)]
        rows = [dict(row) for row in rows for _ in range(self.num_generations)]
        world, rank = self.accelerator.num_processes, self.accelerator.process_index
        per_rank = len(rows) // world
        return rows[rank * per_rank:(rank + 1) * per_rank]

    def _generate_and_score_completions(self, inputs):
        if not self.model.training or not self.dynamic_sampling.enabled:
            return super()._generate_and_score_completions(inputs)
        G, world = self.num_generations, self.accelerator.num_processes
        need = len(inputs) * world // G
        kept: list[GroupRef] = []
        dropped: list[GroupRef] = []
        outputs, round_rows = [], []
        generated, batch, round_no = 0, inputs, 0
        while True:
            outputs.append(super()._generate_and_score_completions(batch))
            round_rows.append(len(batch))
            for index, ok in enumerate(filter_groups(self._last_rewards, G, self.dynamic_sampling.keep)):
                (kept if ok else dropped).append(GroupRef(round_no, index))
            generated += len(self._last_rewards) // G
            if len(kept) >= need or round_no >= self.dynamic_sampling.max_rounds:
                break
            round_no += 1
            batch = self._fresh_inputs(refill_size(need, len(kept), generated, G, world), round_no)
        groups, fillers = select_groups(kept, dropped, need)
        if fillers:
            logger.warning("[dynamic sampling] step %d: only %d/%d prompt groups had reward std > %g after %d "
                           "extra rounds (max_rounds); the rest of the batch is zero-advantage groups",
                           self.state.global_step, len(kept), need, self.dynamic_sampling.epsilon, round_no)
        self._log_dynamic(len(dropped) / generated, round_no, (generated - need) * G, bool(fillers))
        self.last_kept_groups = groups
        moves = plan_rows(groups, fillers, round_rows, G, world)
        merged = assemble(outputs, round_rows, moves, self.accelerator.process_index, _gather_object,
                          self._tokenizer.pad_token_id)
        # The loss normalises by the token count of the whole batch, all ranks together (as TRL does).
        merged["num_items_in_batch"] = self.accelerator.gather(merged["num_items_in_batch"].reshape(1)).sum()
        return merged

    def _log_dynamic(self, dropped_frac: float, rounds: int, extra: int, cap_hit: bool) -> None:
        metrics = self._metrics["train"]
        metrics["dynamic_sampling/dropped_frac"].append(dropped_frac)
        metrics["dynamic_sampling/extra_rounds"].append(float(rounds))
        metrics["dynamic_sampling/extra_generations"].append(float(extra))
        metrics["dynamic_sampling/cap_hit"].append(float(cap_hit))


def make_trainer_class():
    """GRPOTrainer with dynamic sampling (built lazily so importing this module does not import TRL)."""
    from trl import GRPOTrainer

    class DynamicSamplingGRPOTrainer(DynamicSamplingMixin, GRPOTrainer):
        """GRPOTrainer that drops zero-signal prompt groups and refills the batch (see the module docstring)."""

    return DynamicSamplingGRPOTrainer


def _gather_object(payload: list) -> list:
    from accelerate.utils import gather_object

    return gather_object(payload)
