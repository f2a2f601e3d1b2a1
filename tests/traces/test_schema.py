"""The trace schema (srl-trace/2: the prompt of every step, the gold patch) and its recording by the agent loop."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from samples import sample_trace

from srl_agent.actions import Action, format_completion
from srl_agent.eval.agent import AgentConfig, run_episode
from srl_agent.errors import InputError
from srl_agent.policy.scripted import DeterministicPolicy
from srl_agent.task import Task
from srl_agent.traces import TRACE_SCHEMA, Trace


def test_trace_round_trips_through_versioned_json(tmp_path):
    trace = sample_trace()
    trace.gold_patch = "diff --git a/x b/x\n"
    trace.write(tmp_path / "trace.json")
    back = Trace.read(tmp_path / "trace.json")
    assert back == trace and back.format_errors == 1 and back.status == "resolved"
    assert json.loads((tmp_path / "trace.json").read_text())["schema"] == TRACE_SCHEMA == "srl-trace/2"
    assert back.steps[1].prompt == trace.steps[1].prompt
    with pytest.raises(InputError, match="srl-trace/2"):
        Trace.from_dict({"schema": "srl-trajectory/1"})


def test_a_version_1_trace_still_reads_without_prompts():
    """Run directories written before srl-trace/2 stay viewable: the new fields are optional."""
    d = sample_trace().to_dict()
    d["schema"] = "srl-trace/1"
    d.pop("gold_patch")
    for s in d["steps"]:
        s.pop("prompt")
    back = Trace.from_dict(d)
    assert back.gold_patch is None and all(s.prompt is None for s in back.steps)


@dataclass
class _Obs:
    output: str
    exit_code: int | None = 0
    timed_out: bool = False
    truncated: bool = False
    duration: float = 0.0


class _EchoSandbox:
    """Unit-test stand-in for a sandbox: every command answers with its own text."""

    def execute(self, action: Action, timeout=None) -> _Obs:
        return _Obs(f"ran {action.args.get('command', action.tool)}")

    def diff(self) -> str:
        return ""


def test_each_step_records_the_exact_prompt_the_policy_was_given():
    outputs = [format_completion("look", Action.bash("ls")), "no think block",
               format_completion("read", Action.bash("cat a.py")), format_completion("done", Action.submit())]
    policy = DeterministicPolicy(outputs)
    trace = run_episode(Task("t-1", problem_statement="Fix a.py"), policy, _EchoSandbox(), AgentConfig(grade=False))
    assert len(trace.steps) == 4 and len(policy.prompts) == 4
    assert [s.prompt for s in trace.steps] == policy.prompts
    # The step after a malformed output saw that output and the error message: that is what is recorded.
    assert trace.steps[2].prompt[-2] == {"role": "assistant", "content": "no think block"}
    assert trace.steps[0].prompt[1]["content"] == "Fix a.py"
    back = Trace.from_dict(json.loads(json.dumps(trace.to_dict())))
    assert back.steps[3].prompt == policy.prompts[3]


def test_trace_grade_is_a_grade_report_and_old_dict_grades_still_load():
    """Trace.grade used to be a dict, and the agent's ERROR grade said `tests` where GradeReport says
    `tests_status`: a trace file of either shape loads into the typed record."""
    from srl_agent.grade_report import GradeReport

    old_error = {"schema": "srl-trace/1", "instance_id": "t-1", "stop_reason": "sandbox_error",
                 "grade": {"status": "ERROR", "resolved": False, "tests": {}, "infra_error": "container died"}}
    t = Trace.from_dict(old_error)
    assert isinstance(t.grade, GradeReport) and t.grade.instance_id == "t-1"
    assert t.status == "error" and t.grade.infra_error == "container died" and t.grade.tests_status == {}
    old_expert = {"schema": "srl-trace/2", "instance_id": "t-2", "grade": {"status": "FULL", "resolved": True,
                                                                          "source": "the trajectory record"}}
    assert Trace.from_dict(old_expert).resolved is True
    graded = sample_trace(resolved=True)
    d = json.loads(json.dumps(graded.to_dict()))
    assert d["grade"]["schema"] == "srl-grade/1" and "tests_status" in d["grade"] and "tests" not in d["grade"]
    assert Trace.from_dict(d).grade == graded.grade
