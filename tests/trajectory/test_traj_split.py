"""`srl traj split`: one example per expert action, K context rounds, held-out trajectories, budgets."""

from __future__ import annotations

import json

import datasets
import pytest

from srl_agent.actions import Action, render
from srl_agent.cli import main
from srl_agent.errors import ConfigError, InputError
from srl_agent.prompts import PromptConfig, build_step_messages
from srl_agent.task import Task
from srl_agent.trajectory import Source, Step, Trajectory, write_trajectories
from srl_agent.trajectory.split import SplitConfig, split_trajectories


def _traj(i: int, n: int, resolved=True, task="Fix the bug.") -> Trajectory:
    steps = [Step(f"think {i}.{k}", Action.bash(f"cmd {i}.{k}"), f"out {i}.{k}", 0) for k in range(n - 1)]
    steps.append(Step("done", Action.submit(), "diff"))
    return Trajectory(Task(f"inst-{i}", problem_statement=task), steps, Source("test", "mem", i), resolved=resolved)


@pytest.fixture
def trajs_file(tmp_path):
    path = tmp_path / "t.jsonl"
    write_trajectories([_traj(i, 3 + i, resolved=(i != 1)) for i in range(6)], path)
    return path


def _load(d):
    return datasets.load_from_disk(str(d))


def test_one_example_per_action_with_the_shared_prompt(trajs_file, tmp_path):
    s = split_trajectories(trajs_file, tmp_path / "ds", SplitConfig(workers=1))
    ds = _load(tmp_path / "ds")["train"]
    expected = sum(3 + i for i in range(6) if i != 1)
    assert s.examples == len(ds) == expected and s.unresolved_skipped == 1
    assert set(ds.column_names) >= {"prompt", "expert_action", "expert_thought", "instance_id", "step_index",
                                    "num_steps", "tool"}
    t = _traj(3, 6)
    rows = [r for r in ds if r["instance_id"] == "inst-3"]
    assert [r["step_index"] for r in rows] == list(range(6)) and {r["num_steps"] for r in rows} == {6}
    for k, r in enumerate(rows):
        assert r["prompt"] == build_step_messages(t.task.problem_statement, t.steps[:k], PromptConfig())
        assert r["expert_action"] == render(t.steps[k].action) and r["expert_thought"] == t.steps[k].thought
    assert rows[-1]["tool"] == "submit"


def test_all_keeps_unresolved_and_context_rounds_is_configurable(trajs_file, tmp_path):
    cfg = SplitConfig(include_unresolved=True, prompt=PromptConfig(context_rounds=0), workers=1)
    s = split_trajectories(trajs_file, tmp_path / "ds", cfg)
    ds = _load(tmp_path / "ds")["train"]
    assert s.examples == sum(3 + i for i in range(6)) and {len(p) for p in ds["prompt"]} == {2}


def test_validation_holds_out_whole_trajectories_seeded(trajs_file, tmp_path):
    def run(seed, name):
        split_trajectories(trajs_file, tmp_path / name, SplitConfig(val_trajectories=2, seed=seed, workers=1))
        dd = _load(tmp_path / name)
        return set(dd["train"]["instance_id"]), set(dd["validation"]["instance_id"])

    train, val = run(0, "a")
    assert len(val) == 2 and not train & val and len(train | val) == 5
    assert run(0, "b") == (train, val)
    picks = {frozenset(run(seed, f"s{seed}")[1]) for seed in range(1, 8)}
    assert len(picks) > 1


def test_too_many_validation_trajectories_is_a_config_error(trajs_file, tmp_path):
    with pytest.raises(ConfigError, match="val-trajectories"):
        split_trajectories(trajs_file, tmp_path / "ds", SplitConfig(val_trajectories=5, workers=1))


def test_examples_over_the_char_budget_are_dropped_and_counted(tmp_path):
    path = tmp_path / "t.jsonl"
    long_task = _traj(0, 4, task="x" * 40_000)
    write_trajectories([long_task, _traj(1, 3)], path)
    s = split_trajectories(path, tmp_path / "ds", SplitConfig(workers=1))
    assert s.over_budget == 4 and s.examples == 3


def test_token_budget_uses_the_given_tokenizer(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(str(tmp_path / "tok"))
    path = tmp_path / "t.jsonl"
    write_trajectories([_traj(0, 3, task="word " * 2000), _traj(1, 3)], path)
    cfg = SplitConfig(tokenizer=str(tmp_path / "tok"), max_tokens=1500, workers=1)
    s = split_trajectories(path, tmp_path / "ds", cfg)
    assert s.over_budget == 3 and s.examples == 3


def test_missing_task_text_gets_a_clear_message(tmp_path):
    path = tmp_path / "t.jsonl"
    write_trajectories([_traj(0, 3, task="")], path)
    with pytest.raises(InputError, match="no task text"):
        split_trajectories(path, tmp_path / "ds", SplitConfig(workers=1))


def test_nothing_resolved_says_to_pass_all(tmp_path):
    path = tmp_path / "t.jsonl"
    write_trajectories([_traj(0, 3, resolved=None)], path)
    with pytest.raises(InputError, match="--all"):
        split_trajectories(path, tmp_path / "ds", SplitConfig(workers=1))


def test_worker_count_does_not_change_the_dataset(tmp_path, monkeypatch):
    import srl_agent.trajectory.split as split_mod

    path = tmp_path / "t.jsonl"
    write_trajectories([_traj(i, 4) for i in range(40)], path)
    monkeypatch.setattr(split_mod, "UNIT_BYTES", 2000)  # several units even for a small file
    split_trajectories(path, tmp_path / "one", SplitConfig(workers=1, val_trajectories=3))
    split_trajectories(path, tmp_path / "two", SplitConfig(workers=2, val_trajectories=3))
    a, b = _load(tmp_path / "one"), _load(tmp_path / "two")
    for name in ("train", "validation"):
        assert a[name].to_list() == b[name].to_list()


def test_cli_split_and_jsonl_export(tmp_path, trajs_file, capsys):
    out = tmp_path / "ds"
    rc = main(["traj", "split", str(trajs_file), "-o", str(out), "--context-rounds", "1",
               "--val-trajectories", "1", "--all", "--jsonl", str(tmp_path / "ex.jsonl")])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "6 of 6 trajectories" in printed
    dd = _load(out)
    lines = (tmp_path / "ex.jsonl").read_text().splitlines()
    assert len(lines) == len(dd["train"])
    assert len((tmp_path / "ex.validation.jsonl").read_text().splitlines()) == len(dd["validation"])
    assert max(len(json.loads(x)["prompt"]) for x in lines) == 4
