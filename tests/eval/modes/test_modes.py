"""The oracle-files and agentless modes: prompts, parsing, format errors, context limits, resume, summary and
predictions (a fake sandbox and grader here); for real, in containers, on the bundled suite."""

from __future__ import annotations

import json

import pytest

from srl_agent.eval.modes.agentless import AgentlessConfig, agentless_step, parse_localization
from srl_agent.edit_blocks import patched_contents, unified_patch
from srl_agent.eval.modes.oracle import OracleConfig, files_in_prompt, oracle_step
from srl_agent.eval.modes.runner import evaluate_edits
from srl_agent.eval.modes.scripted import GoldEditPolicy
from srl_agent.eval.evaluation import wilson_interval
from srl_agent.grading import GradeReport
from srl_agent.policy.scripted import DeterministicPolicy
from srl_agent.task import Task

FILES = {"lib/calc.py": "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n",
         "lib/other.py": "X = 1\n", "README.md": "# lib\n"}
GOLD = unified_patch(FILES, {"lib/calc.py": FILES["lib/calc.py"].replace("return a - b", "return a + b", 1)})


class FakeSandbox:
    """The two things the modes ask of a start-state sandbox: does a file exist, read it, list tracked files."""

    def __init__(self, files: dict[str, str]):
        self.files = files

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def run(self, command: str, timeout=None):
        class Obs:
            pass

        obs = Obs()
        if command == "git ls-files":
            obs.exit_code, obs.output = 0, "\n".join(sorted(self.files))
        else:
            path = command.split("'")[1]
            obs.exit_code, obs.output = (0 if path in self.files else 1), ""
        return obs

    def read_file(self, path: str) -> str:
        return self.files[path]


def task(iid: str = "lib__calc-1") -> Task:
    return Task(instance_id=iid, problem_statement="add() subtracts", gold_patch=GOLD,
                fail_to_pass=["t.py::test_add"], pass_to_pass=[])


class Grader:
    """Resolves exactly the gold patch; records what it was asked to grade."""

    def __init__(self, first_error: bool = False):
        self.calls, self.first_error = [], first_error

    def __call__(self, t: Task, patch: str) -> GradeReport:
        self.calls.append(patch)
        if self.first_error and len(self.calls) == 1:
            return GradeReport(t.instance_id, "ERROR", infra_error="engine hiccup")
        ok = patched_contents(FILES, patch) == patched_contents(FILES, GOLD)
        return GradeReport(t.instance_id, "FULL" if ok else "NO", patch_exists=True, patch_applied=True)


def run(tmp_path, policy, step, mode="oracle-files", tasks=None, grader=None):
    grader = grader or Grader()
    summary = evaluate_edits(tasks or [task()], policy, tmp_path / "run", step, mode=mode, progress=False,
                             sandbox_factory=lambda t: FakeSandbox(FILES), grader=grader,
                             record={"model": "m", "policy": "p", "tasks": "t"})
    return summary, grader


def result(tmp_path, iid="lib__calc-1") -> dict:
    return json.loads((tmp_path / "run" / iid / "result.json").read_text())


def test_oracle_files_shows_the_gold_files_and_the_gold_edit_resolves(tmp_path):
    summary, grader = run(tmp_path, GoldEditPolicy(), oracle_step())
    r = result(tmp_path)
    user = r["prompt"][1]["content"]
    assert "add() subtracts" in user and files_in_prompt(user) == {"lib/calc.py": FILES["lib/calc.py"]}
    assert r["files"] == ["lib/calc.py"] and r["status"] == "graded" and r["resolved"]
    assert patched_contents(FILES, r["patch"]) == patched_contents(FILES, GOLD) and grader.calls == [r["patch"]]
    assert summary["resolved"] == 1 and summary["ci95"] == list(wilson_interval(1, 1))
    pred = json.loads((tmp_path / "run" / "predictions.jsonl").read_text())
    assert pred == {"instance_id": "lib__calc-1", "model_name_or_path": "m", "model_patch": r["patch"]}


def test_a_malformed_answer_is_a_format_error_and_is_not_graded(tmp_path):
    policy = DeterministicPolicy(["<think>x</think> I would change add()."], cycle=True)
    summary, grader = run(tmp_path, policy, oracle_step())
    r = result(tmp_path)
    assert r["status"] == "format_error" and "<solution> must appear exactly once" in r["error"]
    assert r["patch"] == "" and grader.calls == [] and summary["format_error_rate"] == 1.0
    assert summary["resolved"] == 0 and summary["episodes"] == 1


def test_edits_that_do_not_apply_are_a_format_error(tmp_path):
    bad = ("<think>t</think><solution>```python\n### lib/calc.py\n<<<<<<< SEARCH\nnot in the file\n=======\nx\n"
           ">>>>>>> REPLACE\n```</solution>")
    run(tmp_path, DeterministicPolicy([bad]), oracle_step())
    assert result(tmp_path)["status"] == "format_error" and "search text not found" in result(tmp_path)["error"]


def test_a_prompt_over_the_window_is_not_generated(tmp_path):
    class Small(DeterministicPolicy):
        def count_tokens(self, messages):
            return 10_000

    policy = Small(["never used"])
    run(tmp_path, policy, oracle_step(OracleConfig(max_prompt_tokens=4096)))
    r = result(tmp_path)
    assert r["status"] == "context_limit" and r["error"] == "prompt of 10000 tokens > 4096" and policy.prompts == []


def test_agentless_localises_from_the_listing_then_edits_those_files(tmp_path):
    summary, _ = run(tmp_path, GoldEditPolicy(), agentless_step(AgentlessConfig(max_files=2)), mode="agentless")
    r = result(tmp_path)
    loc_prompt = r["localization"]["prompt"][1]["content"]
    assert "lib/calc.py\nlib/other.py" in loc_prompt and "README.md" not in loc_prompt  # .py files only
    assert r["localization"]["files"] == ["lib/calc.py"] and r["files"] == ["lib/calc.py"] and r["resolved"]
    assert summary["mode"] == "agentless" and summary["resolved"] == 1


def test_localisation_answers_keep_listed_files_only():
    listed = ["a/x.py", "a/y.py", "b/z.py"]
    assert parse_localization("<think>t</think>\n```\na/y.py\nnope.py\n`a/x.py`\na/y.py\nb/z.py\n```", listed, 2) \
        == ["a/y.py", "a/x.py"]
    assert parse_localization("no block, last lines\nb/z.py", listed, 3) == ["b/z.py"]


def test_agentless_with_no_listed_file_is_a_localisation_error(tmp_path):
    run(tmp_path, DeterministicPolicy(["```\nsrc/missing.py\n```"]), agentless_step(), mode="agentless")
    r = result(tmp_path)
    assert r["status"] == "localization_error" and r["patch"] == ""


def test_done_tasks_are_skipped_and_infrastructure_errors_retried(tmp_path):
    grader = Grader(first_error=True)
    s1, _ = run(tmp_path, GoldEditPolicy(), oracle_step(), grader=grader)
    assert result(tmp_path)["status"] == "error" and s1["not_run"] == 1 and s1["episodes"] == 0
    assert (tmp_path / "run" / "predictions.jsonl").read_text() == ""
    s2, _ = run(tmp_path, GoldEditPolicy(), oracle_step(), grader=grader)
    s3, _ = run(tmp_path, GoldEditPolicy(), oracle_step(), grader=grader)
    assert len(grader.calls) == 2 and s2["resolved"] == s3["resolved"] == 1


def test_a_run_directory_holds_one_configuration(tmp_path):
    from srl_agent.errors import ConfigError

    run(tmp_path, GoldEditPolicy(), oracle_step())
    with pytest.raises(ConfigError, match="mode='oracle-files', not 'agentless'"):
        run(tmp_path, GoldEditPolicy(), agentless_step(), mode="agentless")


def test_the_scripted_policy_of_the_edit_modes_is_the_gold_edit(tmp_path, capsys):
    """A one-line error, before any container starts, for a trajectory file in an edit mode."""
    from srl_agent.cli import main

    code = main(["eval", "--mode", "oracle-files", "--policy", "scripted", "--model", "traj.jsonl",
                 "--tasks", "pypi-mutants:test", "--limit", "1", "-o", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code != 0 and "the scripted policy is `--model gold`" in err and "Traceback" not in err


def test_a_batch_grader_grades_every_patch_of_the_run_at_the_end(tmp_path):
    """--judge swebench: patches are collected first, then graded in one batch (as swebench's harness runs)."""
    calls = []

    def batch(tasks, patches):
        calls.append(sorted(patches))
        g = Grader()
        return {t.instance_id: g(t, patches[t.instance_id]) for t in tasks}

    tasks = [task("a__b-1"), task("a__b-2")]
    summary = evaluate_edits(tasks, GoldEditPolicy(), tmp_path / "run", oracle_step(), mode="oracle-files",
                             progress=False, sandbox_factory=lambda t: FakeSandbox(FILES), batch_grader=batch)
    assert calls == [["a__b-1", "a__b-2"]] and summary["resolved"] == 2
    assert result(tmp_path, "a__b-1")["grade"]["status"] == "FULL"
    evaluate_edits(tasks, GoldEditPolicy(), tmp_path / "run", oracle_step(), mode="oracle-files",
                   progress=False, sandbox_factory=lambda t: FakeSandbox(FILES), batch_grader=batch)
    assert len(calls) == 1  # nothing left to grade on a rerun
