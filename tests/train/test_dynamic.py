"""Dynamic sampling's group filters and batch surgery, without a model."""

from __future__ import annotations

import statistics

import pytest
import torch

from srl_agent.train.dynamic import (filter_groups, has_signal, merge_rows, partially_correct, population_std,
                                     split_rows)


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
