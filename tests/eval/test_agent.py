"""The agent loop: stop reasons, format errors, prompts as in training; and a real episode in a container."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from srl_agent.actions import Action, format_completion
from srl_agent.eval.agent import Agent, AgentConfig, format_error_message, run_episode
from srl_agent.errors import SandboxError
from srl_agent.policy.scripted import DeterministicPolicy, completions_for
from srl_agent.prompts import PromptConfig, build_step_messages
from srl_agent.task import Task
from srl_agent.trajectory import Step


@dataclass
class _Obs:
    output: str
    exit_code: int | None = 0
    timed_out: bool = False
    truncated: bool = False
    duration: float = 0.01


class FakeSandbox:
    """Unit-test stand-in for srl_agent.sandbox.Sandbox: echoes commands, 'creates' files into a patch."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[Action] = []
        self.files: dict[str, str] = {}
        self.fail_on = fail_on

    def execute(self, action: Action, timeout=None) -> _Obs:
        self.calls.append(action)
        if self.fail_on and action.args.get("command") == self.fail_on:
            raise SandboxError("container died")
        if action.tool == "str_replace_editor" and action.args["command"] == "create":
            self.files[action.args["path"]] = action.args["file_text"]
            return _Obs(f"File created successfully at: {action.args['path']}")
        if action.tool == "submit":
            return _Obs(self.diff())
        return _Obs(f"$ {action.args.get('command', '')}\nok", exit_code=0)

    def diff(self) -> str:
        return "".join(f"diff --git a{p} b{p}\n+{t}\n" for p, t in sorted(self.files.items()))


def _grader(task, patch, sandbox=None):
    return {"status": "FULL" if "fixed" in patch else "NO", "resolved": "fixed" in patch, "tests": {}}


TASK = Task("demo__t-1", problem_statement="Make f() return 2.")


def test_scripted_policy_stops_on_submit_and_is_graded():
    policy = DeterministicPolicy(completions_for([Action.bash("cat f.py"),
                                                  Action.editor("create", "/testbed/f.py", file_text="fixed"),
                                                  Action.submit(), Action.bash("never reached")]))
    sandbox = FakeSandbox()
    trace = run_episode(TASK, policy, sandbox, AgentConfig(max_steps=10), grader=_grader)
    assert trace.stop_reason == "submitted"
    assert [s.tool for s in trace.steps] == ["bash", "str_replace_editor", "submit"]
    assert len(sandbox.calls) == 3
    assert trace.resolved is True and "fixed" in trace.patch


def test_policy_that_never_submits_stops_at_the_step_limit():
    policy = DeterministicPolicy(completions_for([Action.bash("ls")]), cycle=True)
    trace = run_episode(TASK, policy, FakeSandbox(), AgentConfig(max_steps=4), grader=_grader)
    assert trace.stop_reason == "step_limit"
    assert len(trace.steps) == 4
    assert trace.resolved is False


def test_malformed_outputs_are_counted_and_answered_with_the_expected_format():
    ok = format_completion("look around", Action.bash("ls"))
    outputs = ["no think block at all", ok, "<think>x</think> <function=bash>\n</function>", ok,
               format_completion("done", Action.submit())]
    policy = DeterministicPolicy(outputs)
    sandbox = FakeSandbox()
    trace = run_episode(TASK, policy, sandbox, AgentConfig(), grader=_grader)
    assert trace.format_errors == 2
    assert [s.format_error is not None for s in trace.steps] == [True, False, True, False, False]
    assert len(sandbox.calls) == 3  # malformed outputs never reach the sandbox
    first = trace.steps[0]
    assert first.action is None and "must start with <think>" in first.format_error
    assert first.observation == format_error_message(first.format_error)
    # The next prompt shows the malformed output and the error, so the model can correct itself.
    second_prompt = policy.prompts[1]
    assert second_prompt[-2] == {"role": "assistant", "content": "no think block at all"}
    assert "could not be parsed" in second_prompt[-1]["content"]
    # After a well-formed step the error is no longer shown: the prompt is the training prompt again.
    assert "could not be parsed" not in policy.prompts[2][-1]["content"]


def test_prompt_is_the_training_prompt_over_the_students_own_steps():
    actions = [Action.bash("ls"), Action.bash("cat a.py"), Action.bash("grep -n x a.py"), Action.submit()]
    policy = DeterministicPolicy(completions_for(actions))
    config = AgentConfig(prompt=PromptConfig(context_rounds=2))
    run_episode(TASK, policy, FakeSandbox(), config, grader=_grader)
    history = [Step(thought=f"Step {i + 1}.", action=a, observation=f"$ {a.args['command']}\nok", exit_code=0)
               for i, a in enumerate(actions[:3])]
    assert policy.prompts[3] == build_step_messages(TASK.problem_statement, history, config.prompt)
    assert policy.prompts[0] == build_step_messages(TASK.problem_statement, [], config.prompt)


def test_context_limit_stops_before_generating():
    policy = DeterministicPolicy(completions_for([Action.bash("echo " + "x" * 500)]), cycle=True)
    config = AgentConfig(max_prompt_chars=len(policy.outputs[0]) * 3 + 3000, prompt=PromptConfig(context_rounds=-1))
    trace = run_episode(TASK, policy, FakeSandbox(), config, grader=_grader)
    assert trace.stop_reason == "context_limit"
    assert 1 <= len(trace.steps) < 30


def test_wall_clock_limit():
    ticks = iter(range(1000))
    policy = DeterministicPolicy(completions_for([Action.bash("ls")]), cycle=True)
    agent = Agent(policy, FakeSandbox(), AgentConfig(time_limit_s=10), grader=_grader, clock=lambda: next(ticks))
    trace = agent.run(TASK)
    assert trace.stop_reason == "time_limit"
    assert 2 <= len(trace.steps) <= 6


def test_exhausted_script_and_sandbox_failure_are_stop_reasons_not_crashes():
    trace = run_episode(TASK, DeterministicPolicy(completions_for([Action.bash("ls")])), FakeSandbox(),
                        grader=_grader)
    assert trace.stop_reason == "policy_error" and len(trace.steps) == 1
    policy = DeterministicPolicy(completions_for([Action.bash("boom")]), cycle=True)
    trace = run_episode(TASK, policy, FakeSandbox(fail_on="boom"), grader=_grader)
    assert trace.stop_reason == "sandbox_error" and "container died" in trace.stop_detail


# ---- the real thing: a bundled task in its container, graded by running its tests ----------------------------

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def real_tasks(n: int = 1, split: str = "test") -> list[Task]:
    """The first n held-out tasks of the bundled suite that have a gold patch (skips, saying why, when the suite's
    tasks file is not there; fails in CI)."""
    from srl_agent.errors import InputError
    from srl_agent.tasks import DEFAULT_SUITE, load_suite

    try:
        tasks = [t for t in load_suite(DEFAULT_SUITE, split=split) if t.gold_patch]
    except InputError as exc:
        if IN_CI:
            pytest.fail(f"the bundled suite must be there in CI: {exc}")
        pytest.skip(f"the bundled task suite is not available here ({exc}); run `srl tasks build`")
    assert len(tasks) >= n, f"the bundled suite has only {len(tasks)} {split} tasks with a gold patch"
    return tasks[:n]


def gold_actions(task: Task) -> list[Action]:
    """The task's gold patch as the calls an agent would make: write it with a heredoc, apply it with git."""
    patch = task.gold_patch if task.gold_patch.endswith("\n") else task.gold_patch + "\n"
    return [Action.bash(f"cat > /tmp/fix.patch <<'SRL_PATCH_EOF'\n{patch}SRL_PATCH_EOF"),
            Action.bash("git apply /tmp/fix.patch && rm /tmp/fix.patch && git status --short")]


@pytest.mark.docker
@pytest.mark.slow
def test_scripted_fix_resolves_a_real_task_and_stops_on_submit(docker_engine):
    """The loop, the sandbox tools and grading agree: making the gold fix through tool calls resolves the task."""
    from srl_agent.tasks import task_sandbox

    task = real_tasks(1)[0]
    actions = gold_actions(task) + [Action.submit(), Action.bash("echo never reached")]
    policy = DeterministicPolicy(["<think>What fails?</think> no call"] + completions_for(actions))
    with task_sandbox(task) as sandbox:
        trace = run_episode(task, policy, sandbox, AgentConfig(max_steps=10))
    assert trace.stop_reason == "submitted"
    assert [s.tool for s in trace.steps] == [None, "bash", "bash", "submit"]
    assert trace.format_errors == 1
    assert trace.steps[2].exit_code == 0, trace.steps[2].observation
    assert trace.patch.strip() and trace.steps[3].observation == trace.patch
    assert trace.resolved is True, trace.grade
    assert trace.grade.tests_status["FAIL_TO_PASS"]["success"], trace.grade


@pytest.mark.docker
@pytest.mark.slow
def test_policy_that_never_submits_stops_at_the_step_limit_unresolved(docker_engine):
    from srl_agent.tasks import task_sandbox

    task = real_tasks(1)[0]
    policy = DeterministicPolicy(completions_for([Action.bash("git status --short")]), cycle=True)
    with task_sandbox(task) as sandbox:
        trace = run_episode(task, policy, sandbox, AgentConfig(max_steps=3))
    assert trace.stop_reason == "step_limit" and len(trace.steps) == 3
    assert trace.patch.strip() == ""
    assert trace.resolved is False and trace.grade.status in ("NO", "PARTIAL"), trace.grade


def test_an_expert_prefix_is_replayed_shown_as_history_and_not_counted_in_the_step_limit():
    """Expert-prefix episodes (the learning evidence's k = 1, 2, 3): the prefix runs in the sandbox first, its
    steps are the prompt's history with the observations this sandbox gave, and the policy still gets max_steps."""
    prefix = [Step("look", Action.bash("cat f.py"), "stale observation"),
              Step("fix", Action.editor("create", "/testbed/f.py", file_text="fixed"), "")]
    policy = DeterministicPolicy(completions_for([Action.bash("pytest"), Action.submit()]))
    sandbox = FakeSandbox()
    trace = Agent(policy, sandbox, AgentConfig(max_steps=2), grader=_grader, prefix=prefix).run(TASK)
    assert [a.tool for a in sandbox.calls] == ["bash", "str_replace_editor", "bash", "submit"]
    assert trace.stop_reason == "submitted" and len(trace.steps) == 2 and trace.resolved
    assert trace.meta["prefix_steps"] == 2
    first_prompt = "\n".join(m["content"] for m in trace.steps[0].prompt)
    assert "$ cat f.py\nok" in first_prompt and "stale observation" not in first_prompt


def test_a_prefix_that_does_not_replay_ends_the_episode_as_a_sandbox_error():
    prefix = [Step("look", Action.bash("boom"), "")]
    trace = Agent(DeterministicPolicy(completions_for([Action.submit()])), FakeSandbox(fail_on="boom"),
                  grader=_grader, prefix=prefix).run(TASK)
    assert trace.stop_reason == "sandbox_error" and not trace.steps and trace.grade.status == "ERROR"
