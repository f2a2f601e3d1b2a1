"""StepExample: one definition of the step dataset's columns, a version stored with the data, checked on load."""

from __future__ import annotations

import pytest

from srl_agent.errors import InputError
from srl_agent.step_example import COLUMNS, STEPS_SCHEMA, StepExample, features


def test_every_step_dataset_builder_writes_the_same_columns(tmp_path):
    """train/fixtures.py used to lack `trajectory` and `source`: the fixtures and split now build StepExample."""
    from srl_agent.train.fixtures import step_dataset, step_rows, write_trajectory_jsonl
    from srl_agent.trajectory.split import SplitConfig, split_trajectories

    assert list(features()) == list(COLUMNS) == [f for f in StepExample.__dataclass_fields__]
    assert all(list(r) == list(COLUMNS) for r in step_rows(2))
    dd = step_dataset()
    assert all(ds.column_names == list(COLUMNS) and ds.info.description == STEPS_SCHEMA for ds in dd.values())
    split_trajectories(write_trajectory_jsonl(tmp_path / "t.jsonl"), tmp_path / "steps", SplitConfig(workers=1))
    from datasets import load_from_disk

    saved = load_from_disk(str(tmp_path / "steps"))
    assert saved["train"].column_names == list(COLUMNS) and saved["train"].info.description == STEPS_SCHEMA


def test_a_dataset_of_another_schema_version_is_refused_with_what_to_do(tmp_path):
    from srl_agent.train.data import load_steps
    from srl_agent.train.fixtures import step_dataset

    dd = step_dataset()
    for ds in dd.values():
        ds.info.description = "srl-steps/99"
    dd.save_to_disk(str(tmp_path / "new"))
    with pytest.raises(InputError, match=r"schema srl-steps/99.*srl-steps/1.*srl traj split"):
        load_steps(tmp_path / "new")
    ok = step_dataset()
    ok.save_to_disk(str(tmp_path / "ok"))
    assert len(load_steps(tmp_path / "ok")) == len(ok["train"])


def test_an_unversioned_third_party_dataset_needs_only_prompt_and_expert_action(tmp_path):
    from datasets import Dataset

    from srl_agent.train.data import load_steps

    Dataset.from_list([{"prompt": [{"role": "user", "content": "x"}], "expert_action": "a"}]).save_to_disk(
        str(tmp_path / "third"))
    assert len(load_steps(tmp_path / "third")) == 1
    Dataset.from_list([{"prompt": "x"}]).save_to_disk(str(tmp_path / "bad"))
    with pytest.raises(InputError, match="lacks column"):
        load_steps(tmp_path / "bad")
