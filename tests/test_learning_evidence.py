"""The learning-evidence harness's own logic: the data split, the statistics, the reading, checkpoint selection."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "eval"))

from evidence.data import split_ids  # noqa: E402
from evidence.report import reading, resolved_stats, summarize, t_interval  # noqa: E402


def _traj(iid: str, repo: str):
    return SimpleNamespace(task=SimpleNamespace(instance_id=iid, repo=repo))


def test_selection_split_takes_the_two_first_ids_of_each_train_package():
    trajs = [_traj(i, r) for i, r in [("a-3", "a"), ("a-1", "a"), ("a-2", "a"), ("b-9", "b"), ("b-5", "b"),
                                      ("b-7", "b"), ("c-1", "c")]]
    selection, training, heldout = split_ids(trajs, {"a-1", "a-2", "a-3", "b-5", "b-7", "b-9"}, {"c-1"})
    assert selection == ["a-1", "a-2", "b-5", "b-7"]
    assert training == ["a-3", "b-9"] and heldout == ["c-1"]


def test_t_interval_uses_2776_for_five_seeds():
    iv = t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    half = 2.776 * (2.5 ** 0.5) / (5 ** 0.5)
    assert iv["mean"] == 3.0 and iv["low"] == pytest.approx(3.0 - half) and iv["high"] == pytest.approx(3.0 + half)
    assert t_interval([0.5])["low"] is None


@pytest.mark.parametrize("diffs, word", [([0.1, 0.12, 0.09, 0.11, 0.1], "SRL beats SFT"),
                                         ([-0.1, -0.12, -0.09, -0.11, -0.1], "SFT beats SRL"),
                                         ([0.1, -0.1, 0.05, -0.05, 0.0], "not shown")])
def test_the_pre_registered_reading(diffs, word):
    assert word in reading(t_interval(diffs))


def _run(method, seed, reward, resolved):
    eps = [{"instance_id": f"t{i}", "resolved": x} for i, x in enumerate(resolved)]
    return {"method": method, "seed": seed, "step_reward": reward, "parse_rate": 0.5, "episodes": {"start": eps},
            "resolved": {"start": sum(resolved) / len(resolved)},
            "cost": {"steps": 3, "train_cpu_seconds": 150.0}}


def test_srl_minus_sft_is_paired_by_seed_and_resolved_rates_pool_seeds_and_tasks():
    runs = [_run("sft", s, 0.1 * s, [True, False]) for s in range(3)]
    runs += [_run("srl", s, 0.1 * s + 0.2 + 0.01 * s, [False, False]) for s in (2, 0, 1)]
    stats = summarize(runs)
    assert stats["srl_minus_sft"]["step_reward"]["per_seed"] == pytest.approx([0.2, 0.21, 0.22])
    r = resolved_stats([x for x in runs if x["method"] == "sft"], "start")
    assert (r["resolved"], r["episodes"], r["per_seed"]) == (3, 6, [0.5, 0.5, 0.5])
    assert 0 < r["low"] < 0.5 < r["high"] < 1


def test_selection_keeps_the_later_checkpoint_on_a_tie(tmp_path, monkeypatch):
    import evidence.budget as budget

    scores = iter([0.2, 0.5, 0.5, 0.1])
    monkeypatch.setattr(budget, "step_scores", lambda *a, **k: {"step_reward": next(scores), "parse_rate": 1.0})
    saved = []
    model = SimpleNamespace(save_pretrained=lambda p: (Path(p).mkdir(), saved.append(p)))
    tok = SimpleNamespace(save_pretrained=lambda p: None)
    sel = budget.Selector({}, tmp_path / "best", 8, 64, best_score=0.3)
    for cpu in (10, 20, 30, 40):
        sel.score(model, tok, cpu, cpu, "sft")
    assert sel.best_at == 30 and sel.best_score == 0.5 and len(saved) == 2 and (tmp_path / "best").is_dir()


def test_the_grade_cache_grades_each_distinct_patch_once_and_never_remembers_an_infrastructure_error(tmp_path,
                                                                                                    monkeypatch):
    import srl_agent.grading as grading
    from evidence.heldout import cached_grader

    calls = []

    def fake(task, patch):
        calls.append(patch)
        return {"status": "ERROR" if patch == "broken" else "FULL", "resolved": patch == "fix", "tests": {}}

    monkeypatch.setattr(grading, "grade_patch", fake)
    grade = cached_grader(tmp_path / "grades")
    task, other = SimpleNamespace(instance_id="t-1"), SimpleNamespace(instance_id="t-2")
    assert grade(task, "fix")["resolved"] and grade(task, "fix")["cached"]
    assert not grade(other, "fix").get("cached")  # another task: graded again
    grade(task, "broken"), grade(task, "broken")
    assert calls == ["fix", "fix", "broken", "broken"]
