"""Evaluation runs: statistics, the run directory (resume, predictions, summary), eval-steps; and a real run."""

from __future__ import annotations

import argparse
import json
import math
from contextlib import contextmanager
from itertools import combinations

import pytest

from srl_agent.actions import Action, format_completion
from srl_agent.eval.agent import AgentConfig
from srl_agent.errors import ConfigError
from srl_agent.eval.evaluation import (evaluate, evaluate_steps, load_run, pass_at_k, summarize, wilson_interval)
from srl_agent.policy.scripted import DeterministicPolicy, ScriptedPolicy, completions_for
from srl_agent.task import Task
from test_agent import FakeSandbox, _grader


def test_wilson_interval_matches_known_values():
    lo, hi = wilson_interval(5, 10)
    assert math.isclose(lo, 0.2366, abs_tol=1e-4) and math.isclose(hi, 0.7634, abs_tol=1e-4)
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and math.isclose(hi, 0.1611, abs_tol=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("n,c,k", [(5, 0, 1), (5, 2, 1), (5, 2, 3), (6, 3, 2), (4, 4, 4), (8, 1, 8)])
def test_pass_at_k_is_the_unbiased_estimator(n, c, k):
    """pass@k = probability that a random k-subset of the n samples holds a correct one (brute force)."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(combinations(range(n), k))
    brute = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
    assert math.isclose(pass_at_k(n, c, k), brute, abs_tol=1e-12)


def _fake_factory(opened: list):
    @contextmanager
    def factory(task):
        sb = FakeSandbox()
        sb.reset = lambda: sb.files.clear()
        opened.append(task.instance_id)
        yield sb
    return factory


def _solve_script(fix: bool) -> list[str]:
    text = "fixed" if fix else "still broken"
    return completions_for([Action.bash("ls"), Action.editor("create", "/testbed/f.py", file_text=text),
                            Action.submit()])


TASKS = [Task(f"demo__t-{i}", problem_statement=f"task {i}") for i in range(4)]


def _policy() -> ScriptedPolicy:
    # Tasks 0 and 1 get fixed, 2 submits a wrong fix, 3 never submits.
    return ScriptedPolicy({"demo__t-0": _solve_script(True), "demo__t-1": _solve_script(True),
                           "demo__t-2": _solve_script(False)},
                          default=["<think>hm</think> not a call"] + completions_for([Action.bash("ls")]), cycle=True)


def test_run_directory_summary_predictions_and_resume(tmp_path):
    opened: list[str] = []
    run = tmp_path / "run"
    summary = evaluate(TASKS, _policy(), run, agent_config=AgentConfig(max_steps=4), workers=2,
                       sandbox_factory=_fake_factory(opened), grader=_grader, record={"model": "fake"}, progress=False)
    assert sorted(opened) == [t.instance_id for t in TASKS]
    for t in TASKS:
        assert (run / t.instance_id / "trace.json").is_file() and (run / t.instance_id / "report.json").is_file()
    assert summary["episodes"] == 4 and summary["resolved"] == 2 and summary["resolved_rate"] == 0.5
    assert summary["ci95"] == pytest.approx(list(wilson_interval(2, 4)))
    assert summary["stop_reasons"] == {"step_limit": 1, "submitted": 3}
    assert summary["mean_steps"] == pytest.approx((3 + 3 + 3 + 4) / 4)
    assert summary["format_error_rate"] == pytest.approx(2 / 13)  # t-3: outputs 1 and 3 are malformed
    assert json.loads((run / "summary.json").read_text()) == summary
    preds = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert [p["instance_id"] for p in preds] == [t.instance_id for t in TASKS]
    assert set(preds[0]) == {"instance_id", "model_name_or_path", "model_patch"} and "fixed" in preds[0]["model_patch"]
    assert (run / "config.json").is_file()

    # Resume: finished tasks are skipped; a task whose report is missing runs again.
    (run / "demo__t-2" / "report.json").unlink()
    opened.clear()
    again = evaluate(TASKS, _policy(), run, agent_config=AgentConfig(max_steps=4), sandbox_factory=_fake_factory(opened),
                     grader=_grader, record={"model": "fake"}, progress=False)
    assert opened == ["demo__t-2"]
    assert again["episodes"] == 4 and again["resolved"] == 2

    with pytest.raises(ConfigError, match="another -o"):
        evaluate(TASKS, _policy(), run, sandbox_factory=_fake_factory([]), grader=_grader,
                 record={"model": "other"}, progress=False)
    traces, saved = load_run(run)
    assert len(traces) == 4 and saved["resolved"] == 2


def test_resume_retries_episodes_that_ended_in_an_infrastructure_failure(tmp_path):
    """An infrastructure failure is not a task failure: a rerun must try the episode again, not skip it."""
    opened: list[str] = []
    run = tmp_path / "run"
    evaluate(TASKS, _policy(), run, agent_config=AgentConfig(max_steps=4), sandbox_factory=_fake_factory(opened),
             grader=_grader, record={"model": "fake"}, progress=False)
    report = run / "demo__t-1" / "report.json"
    data = json.loads(report.read_text())
    data.update(grade_status="ERROR", resolved=False)
    report.write_text(json.dumps(data))
    opened.clear()
    evaluate(TASKS, _policy(), run, agent_config=AgentConfig(max_steps=4), sandbox_factory=_fake_factory(opened),
             grader=_grader, record={"model": "fake"}, progress=False)
    assert opened == ["demo__t-1"]
    assert json.loads(report.read_text())["grade_status"] != "ERROR"


def test_samples_give_pass_at_k_and_share_a_sandbox_per_task(tmp_path):
    # Sample j of every task: the policy alternates fixing and not fixing between episodes.
    scripts = iter([_solve_script(True), _solve_script(False), _solve_script(False)] * 2)

    class Alternating(ScriptedPolicy):
        def episode(self, task):
            return DeterministicPolicy(next(scripts))

    opened: list[str] = []
    summary = evaluate(TASKS[:2], Alternating(), tmp_path / "r", samples=3, sandbox_factory=_fake_factory(opened),
                       grader=_grader, record={"model": "fake"}, progress=False)
    assert opened == ["demo__t-0", "demo__t-1"]
    assert (tmp_path / "r" / "demo__t-0" / "sample_2" / "trace.json").is_file()
    assert summary["episodes"] == 6 and summary["resolved"] == 2
    assert summary["pass_at_k"]["1"] == pytest.approx(1 / 3)
    assert summary["pass_at_k"]["3"] == pytest.approx(1.0)
    assert summary["pass_at_k"]["2"] == pytest.approx(pass_at_k(3, 1, 2))
    assert summarize(tmp_path / "r", samples=3)["per_task"]["demo__t-0"] == {"samples": 3, "resolved": 1}


def test_expert_annotation_gives_each_step_its_reward(tmp_path):
    expert = {"demo__t-0": [Action.bash("ls").render(), Action.editor("create", "/testbed/f.py",
                                                                      file_text="fixed").render()]}
    evaluate(TASKS[:1], _policy(), tmp_path / "r", sandbox_factory=_fake_factory([]), grader=_grader,
             expert=expert, record={"model": "fake"}, progress=False)
    traces, summary = load_run(tmp_path / "r")
    assert [s.reward for s in traces[0].steps] == [1.0, 1.0, None]
    assert summary["mean_step_reward"] == 1.0


def test_eval_steps_reports_mean_reward_and_parse_rate(tmp_path):
    from datasets import Dataset, DatasetDict

    prompt = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    rows = {"prompt": [prompt] * 4, "expert_action": [Action.bash("ls").render()] * 3 + [Action.submit().render()],
            "expert_thought": [""] * 4, "instance_id": ["a"] * 4, "step_index": [0, 1, 2, 3],
            "num_steps": [4] * 4, "tool": ["bash"] * 3 + ["submit"]}
    DatasetDict({"train": Dataset.from_dict(rows), "validation": Dataset.from_dict(rows)}).save_to_disk(tmp_path / "d")
    outputs = [format_completion("t", Action.bash("ls")), "garbage", format_completion("t", Action.bash("ls -l")),
               format_completion("t", Action.submit())]
    result = evaluate_steps(DeterministicPolicy(outputs), tmp_path / "d", batch_size=3, progress=False)
    import difflib
    sim = difflib.SequenceMatcher(None, Action.bash("ls -l").render(), Action.bash("ls").render()).ratio()
    assert result["examples"] == 4 and result["parse_rate"] == 0.75
    assert result["mean_reward"] == pytest.approx((1 - 1 + sim + 1) / 4)
    assert result["by_tool"]["submit"] == {"n": 1, "mean_reward": 1.0, "parse_rate": 1.0}
    limited = evaluate_steps(DeterministicPolicy(outputs), tmp_path / "d", limit=2, progress=False)
    assert limited["examples"] == 2


def _cli(argv: list[str]) -> int:
    from srl_agent.cli import eval as eval_cli

    parser = argparse.ArgumentParser(prog="srl")
    eval_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_eval_steps_input_mistakes_are_one_line_errors(tmp_path):
    from datasets import Dataset, DatasetDict

    from srl_agent.errors import InputError

    from srl_agent.errors import UsageError

    with pytest.raises(UsageError, match="srl traj split"):
        _cli(["eval-steps", "--model", "m", "--policy", "openai", "--data", str(tmp_path / "nothing")])
    with pytest.raises(InputError, match="srl traj split"):
        evaluate_steps(DeterministicPolicy([]), tmp_path / "nothing", progress=False)
    from srl_agent.cli import main

    assert main(["eval-steps", "--model", "m", "--policy", "openai", "--data", str(tmp_path / "nothing")]) == 2
    assert main(["eval", "--model", "m", "--tasks", str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "r")]) == 2
    rows = {"prompt": [[{"role": "user", "content": "u"}]], "expert_action": [Action.bash("ls").render()]}
    DatasetDict({"train": Dataset.from_dict(rows)}).save_to_disk(tmp_path / "d")
    with pytest.raises(UsageError, match="no split 'validation'.*train"):
        _cli(["eval-steps", "--model", "m", "--policy", "openai", "--data", str(tmp_path / "d")])
    with pytest.raises(InputError, match="no split 'validation'.*train"):
        evaluate_steps(DeterministicPolicy([]), tmp_path / "d", progress=False)
    # A bare Dataset (no splits) is taken as it is; rows without a tool column are grouped under '?'.
    Dataset.from_dict(rows).save_to_disk(tmp_path / "bare")
    result = evaluate_steps(DeterministicPolicy([format_completion("t", Action.bash("ls"))]), tmp_path / "bare",
                            progress=False)
    assert result["mean_reward"] == 1.0 and list(result["by_tool"]) == ["?"]


# ---- a real run: the bundled suite in containers, through the CLI --------------------------------------------

@pytest.mark.docker
@pytest.mark.slow
def test_srl_eval_in_containers_resumes_and_renders(docker_engine, tmp_path):
    """`srl eval --policy scripted` replaying a fix for one task and a no-op for another: 1 of 2 resolved,
    predictions in SWE-bench's format, a rerun does nothing, and the viewer renders the run."""
    from srl_agent.trajectory import Source, Step, Trajectory, write_trajectories
    from test_agent import gold_actions, real_tasks

    fixed, untouched = real_tasks(2)
    trajs = [Trajectory(fixed, [Step("apply the fix", a, "") for a in gold_actions(fixed)], Source("test", "-", 0)),
             Trajectory(untouched, [Step("look", Action.bash("ls"), "")], Source("test", "-", 1))]
    write_trajectories(trajs, tmp_path / "script.jsonl")
    run = tmp_path / "run"
    argv = ["eval", "--policy", "scripted", "--model", str(tmp_path / "script.jsonl"), "--tasks", "pypi-mutants:test",
            "--instance-ids", f"{fixed.instance_id},{untouched.instance_id}", "-o", str(run), "--workers", "2",
            "--max-steps", "5", "--expert", str(tmp_path / "script.jsonl")]
    assert _cli(argv) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["episodes"] == 2 and summary["resolved"] == 1
    assert summary["stop_reasons"] == {"submitted": 2}
    assert summary["mean_step_reward"] == 1.0  # the replay is the expert
    preds = {p["instance_id"]: p for p in map(json.loads, (run / "predictions.jsonl").read_text().splitlines())}
    assert preds[fixed.instance_id]["model_patch"].strip() and preds[untouched.instance_id]["model_patch"] == ""
    report = json.loads((run / fixed.instance_id / "report.json").read_text())
    assert report["resolved"] is True and report["grade"]["status"] == "FULL"

    before = {p: p.stat().st_mtime_ns for p in run.rglob("trace.json")}
    assert _cli(argv) == 0  # resume: both done, nothing reruns
    assert {p: p.stat().st_mtime_ns for p in run.rglob("trace.json")} == before

    from srl_agent.cli.traces import write_report

    html = write_report(run, tmp_path / "report.html").read_text()
    assert html.count('class="step"') == 3 + 2 and "FAIL_TO_PASS" in html


@pytest.mark.docker
def test_ctrl_c_stops_eval_writes_the_summary_of_what_finished_and_a_rerun_resumes(docker_engine, tmp_path,
                                                                                   interrupt_srl):
    """Issue 16: a first SIGINT used to run the whole queue and exit without summary.json."""
    from srl_agent.trajectory import Source, Step, Trajectory, write_trajectories
    from test_agent import real_tasks

    tasks = real_tasks(4)
    slow = [Step("wait", Action.bash("sleep 2"), "") for _ in range(3)]
    write_trajectories([Trajectory(t, slow, Source("test", "-", i)) for i, t in enumerate(tasks)],
                       tmp_path / "script.jsonl")
    run = tmp_path / "run"
    argv = ["eval", "--policy", "scripted", "--model", str(tmp_path / "script.jsonl"), "--tasks", "pypi-mutants:test",
            "--instance-ids", ",".join(t.instance_id for t in tasks), "-o", str(run), "--workers", "1",
            "--max-steps", "5"]
    got = interrupt_srl(argv, lambda: any(run.rglob("report.json")))
    assert got.rc == 130, got.stderr
    assert "rerun the same command to resume" in got.stderr and "Traceback" not in got.stderr
    assert got.seconds < 60, f"the running episode should end within a step, took {got.seconds:.0f}s"
    reports = list(run.rglob("report.json"))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["episodes"] == len(reports)
    assert 1 <= len(reports) < len(tasks), "stopped early, with what finished counted"
    assert (run / "predictions.jsonl").is_file()
    before = {p: p.stat().st_mtime_ns for p in run.rglob("trace.json")}
    assert len(before) == len(reports), "an interrupted episode leaves no trace behind (a rerun plays it)"
    assert _cli(argv) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["episodes"] == len(tasks) and "interrupted" not in summary
    assert all(p.stat().st_mtime_ns == m for p, m in before.items()), "finished episodes are not played again"
