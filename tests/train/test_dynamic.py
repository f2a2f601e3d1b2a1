"""Dynamic sampling's group filters and batch surgery, without a model."""

from __future__ import annotations

import statistics

import pytest
import torch

from srl_agent.train.dynamic import (GroupRef, assemble, filter_groups, has_signal, merge_rows, partially_correct,
                                     plan_rows, population_std, refill_size, select_groups, split_rows)


def test_population_std_matches_statistics():
    for values in ([1.0, 2.0, 4.0], [0.5] * 4, [-1.0, 0.3, 0.3, 0.9]):
        assert population_std(values) == pytest.approx(statistics.pstdev(values))


def test_filter_drops_exactly_the_zero_variance_groups():
    rewards = [-1, -1, -1, -1,  0.2, 0.2, 0.2, 0.2,  0.1, 0.5, 0.5, 0.5,  -1, 0.3, -1, -1]
    assert filter_groups(rewards, 4) == [False, False, True, True]


def test_epsilon_is_a_strict_threshold():
    tiny = [0.0, 2e-4]  # population std 1e-4
    assert not has_signal(tiny, 1e-4)
    assert has_signal(tiny, 0.9e-4)
    assert filter_groups([0.3, 0.3 + 1e-12], 2) == [False]


def test_dapo_filter_keeps_partially_correct_groups():
    assert filter_groups([1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0], 4, partially_correct) == [True, False, False]


def test_filter_rejects_ragged_input():
    with pytest.raises(ValueError):
        filter_groups([1.0, 2.0, 3.0], 2)


def test_split_and_merge_pad_prompts_left_and_completions_right():
    a = {"prompt_ids": torch.tensor([[5, 6], [5, 7]]), "prompt_mask": torch.ones(2, 2, dtype=torch.long),
         "completion_ids": torch.tensor([[1, 2, 3], [1, 0, 0]]), "completion_mask": torch.tensor([[1, 1, 1], [1, 0, 0]]),
         "advantages": torch.tensor([1.0, -1.0]), "num_items_in_batch": torch.tensor(4)}
    b = {"prompt_ids": torch.tensor([[9, 9, 9], [8, 8, 8]]), "prompt_mask": torch.ones(2, 3, dtype=torch.long),
         "completion_ids": torch.tensor([[4], [4]]), "completion_mask": torch.tensor([[1], [1]]),
         "advantages": torch.tensor([0.5, -0.5]), "num_items_in_batch": torch.tensor(2)}
    groups = split_rows(a, 2, 1) + split_rows(b, 2, 2)
    assert len(groups) == 3 and "num_items_in_batch" not in groups[0]
    merged = merge_rows(groups, pad_token_id=0)
    assert merged["prompt_ids"].tolist() == [[0, 5, 6], [0, 5, 7], [9, 9, 9], [8, 8, 8]]
    assert merged["prompt_mask"].tolist()[0] == [0, 1, 1]
    assert merged["completion_ids"].tolist()[2] == [4, 0, 0]
    assert merged["completion_mask"].tolist()[3] == [1, 0, 0]
    assert merged["advantages"].tolist() == [1.0, -1.0, 0.5, -0.5]
    assert int(merged["num_items_in_batch"]) == 6


# ------------------------------------------------------------------ the batch plan across rounds and ranks
def _rank_outputs(round_rows: list[int], world: int, tag: int) -> list[list[dict]]:
    """outputs[rank][round]: rows whose prompt id encodes (round, global row) so the test can follow them."""
    out = []
    for rank in range(world):
        per_round = []
        for r, n in enumerate(round_rows):
            ids = [[tag, r, rank * n + i] for i in range(n)]
            per_round.append({"prompt_ids": torch.tensor(ids), "prompt_mask": torch.ones(n, 3, dtype=torch.long),
                              "completion_ids": torch.ones(n, 1 + rank, dtype=torch.long),
                              "completion_mask": torch.ones(n, 1 + rank, dtype=torch.long),
                              "advantages": torch.ones(n), "num_items_in_batch": torch.tensor(0)})
        out.append(per_round)
    return out


def _run_ranks(outputs, round_rows, moves, world):
    """assemble() on every simulated rank at once, with a thread barrier as the all-gather."""
    import threading

    slots: list = [None] * world
    barrier = threading.Barrier(world)
    results: list = [None] * world

    def exchange(rank):
        def gather(payload):
            slots[rank] = payload
            barrier.wait()
            everything = [x for s in slots for x in s]
            barrier.wait()
            return everything
        return gather

    def work(rank):
        results[rank] = assemble(outputs[rank], round_rows, moves, rank, exchange(rank), pad_token_id=0)

    threads = [threading.Thread(target=work, args=(r,)) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.parametrize("world", [1, 2, 4])
def test_every_rank_gets_a_full_batch_of_the_chosen_groups_in_order(world):
    """Groups chosen from two rounds (one that straddles ranks) come out on the ranks in final-batch order,
    every rank with the same number of rows, as one process would have them."""
    G = 4
    round_rows = [8 // world * 2, 4 // world * 2]             # rows per rank: 16 then 8 rows in all
    groups = [GroupRef(0, 1), GroupRef(1, 0), GroupRef(0, 3), GroupRef(1, 1)]
    moves = plan_rows(groups, fillers=1, round_rows=round_rows, group_size=G, world=world)
    results = _run_ranks(_rank_outputs(round_rows, world, 7), round_rows, moves, world)
    rows = [tuple(r[1:]) for res in results for r in res["prompt_ids"].tolist()]
    assert all(res["prompt_ids"].shape[0] == len(groups) * G // world for res in results)
    expected = [(g.round, g.index * G + c) for g in groups for c in range(G)]
    assert rows == expected
    adv = [a for res in results for a in res["advantages"].tolist()]
    assert adv == [1.0] * 12 + [0.0] * 4                       # the filler group has zero advantages
    # rows that came from another rank keep their own completion (mask length = 1 + the rank that made it)
    lengths = [int(n) for res in results for n in res["completion_mask"].sum(dim=1)]
    assert lengths == [1 + row // round_rows[r] for r, row in expected]
    assert all(int(res["num_items_in_batch"]) == int(res["completion_mask"].sum()) for res in results)


def test_plan_rejects_a_batch_that_does_not_split_over_the_ranks():
    with pytest.raises(ValueError, match="do not split"):
        plan_rows([GroupRef(0, 0)], 0, [3], group_size=3, world=2)


def test_select_groups_fills_with_dropped_groups_only_when_short():
    kept, dropped = [GroupRef(0, 0), GroupRef(1, 2)], [GroupRef(0, 1), GroupRef(0, 2)]
    assert select_groups(kept, dropped, 2) == (kept, 0)
    assert select_groups(kept, dropped, 3) == (kept + [GroupRef(0, 1)], 1)


def test_refill_size_rounds_up_to_split_over_ranks():
    assert refill_size(need=4, kept=2, generated=4, group_size=4, world=1) == 4   # rate 1/2: 2 missing / 0.5
    assert refill_size(need=8, kept=7, generated=8, group_size=4, world=2) == 2   # 2 x 4 rows split over 2
    assert refill_size(need=8, kept=7, generated=8, group_size=3, world=2) == 2   # 3 x 2 rows: 3 per rank
    assert refill_size(need=8, kept=0, generated=8, group_size=3, world=4) == 8   # capped at need, multiple of 4
