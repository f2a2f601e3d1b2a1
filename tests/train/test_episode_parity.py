"""Evaluation's agent and RLVR's rollouts play the same episode core: the same scripted outputs give the same
stop reasons, observations and observation turns in both (only the context they are shown in differs)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from srl_agent.actions import Action, format_completion
from srl_agent.eval.agent import Agent, AgentConfig
from srl_agent.errors import CommandTimeoutError, SandboxError
from srl_agent.grade_report import GradeReport
from srl_agent.policy.scripted import DeterministicPolicy
from srl_agent.prompts import PromptConfig
from srl_agent.task import Task
from srl_agent.train.rollout import EpisodeLimits, EpisodeRunner, EpisodeSpec, TaskSandboxes, TextActor

TASK = Task("demo__parity-1", problem_statement="Make f() return 2.")
PROMPT = PromptConfig(max_observation_chars=200)
STEPS = 5  # outputs per episode


@dataclass
class _Obs:
    output: str
    exit_code: int | None = 0
    timed_out: bool = False
    duration: float = 0.01


class PoolableRuntime:
    """Runs nothing (`slow` times out, `boom` kills the sandbox, `create` edits a file into the diff, anything
    else echoes) and can be kept by a sandbox pool (alive, reset between episodes, closed at the end)."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}

    def execute(self, action: Action, timeout=None) -> _Obs:
        command = action.args.get("command")
        if command == "slow":
            raise CommandTimeoutError(f"no output for {timeout}s")
        if command == "boom":
            raise SandboxError("container died")
        if action.tool == "str_replace_editor" and command == "create":
            self.files[action.args["path"]] = action.args["file_text"]
            return _Obs(f"File created successfully at: {action.args['path']}")
        return _Obs(self.diff() if action.tool == "submit" else f"$ {command}\n" + "z" * 300)

    def diff(self) -> str:
        return "".join(f"diff --git a{p} b{p}\n+{t}\n" for p, t in sorted(self.files.items()))

    def is_alive(self) -> bool:
        return True

    def reset(self) -> None:
        self.files.clear()

    def close(self) -> None:
        pass


def _grader(task, patch):
    return GradeReport(task.instance_id, "FULL" if "fixed" in patch else "NO", patch_exists=bool(patch))


def _say(action: Action) -> str:
    return format_completion("next", action)


SCRIPTS = {
    "submitted": [_say(Action.bash("ls")), "no think block", _say(Action.bash("slow")),
                  _say(Action.editor("create", "/testbed/f.py", file_text="fixed")), _say(Action.submit())],
    "step_limit": [_say(Action.bash("ls")), "bad", _say(Action.bash("echo " + "y" * 500)), _say(Action.bash("ls")),
                   _say(Action.bash("slow")), _say(Action.submit())],
    "sandbox_error": [_say(Action.bash("ls")), _say(Action.bash("boom")), _say(Action.submit())],
}


def _eval(outputs: list[str]):
    policy = DeterministicPolicy(list(outputs))
    config = AgentConfig(max_steps=STEPS, command_timeout=5, prompt=PROMPT)
    return Agent(policy, PoolableRuntime(), config, grader=_grader).run(TASK), policy


def _rlvr(outputs: list[str], tokenizer):
    policy = DeterministicPolicy(list(outputs))
    limits = EpisodeLimits(max_steps=STEPS, command_timeout=5, max_tokens=100_000, max_new_tokens=64, prompt=PROMPT)
    runner = EpisodeRunner(tokenizer, TaskSandboxes(factory=lambda task: PoolableRuntime(), per_task=1), limits,
                           grader=_grader, workers=1)
    [result] = runner.run([EpisodeSpec(TASK)], TextActor(policy, tokenizer))
    return result, policy


@pytest.fixture(scope="module")
def tokenizer(student_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(student_dir))


@pytest.mark.parametrize("reason", sorted(SCRIPTS))
def test_eval_and_rlvr_give_the_same_stop_reasons_and_observations(reason, tokenizer):
    trace, eval_policy = _eval(SCRIPTS[reason])
    result, rlvr_policy = _rlvr(SCRIPTS[reason], tokenizer)
    assert trace.stop_reason == result.stop_reason == reason
    assert len(trace.steps) == result.steps and trace.format_errors == result.format_errors
    assert [s.observation for s in trace.steps] == [t["observation"] for t in result.turns]
    assert [s.format_error for s in trace.steps] == [t.get("format_error") for t in result.turns]
    # The observation turn after each output is the same text in both contexts.
    eval_feedback = [p[-1]["content"] for p in eval_policy.prompts[1:]]
    rlvr_feedback = [p[-1]["content"] for p in rlvr_policy.prompts[1:]]
    assert eval_feedback == rlvr_feedback and all(f.startswith("OBSERVATION:\n") for f in eval_feedback)
    assert result.messages[0] == eval_policy.prompts[0][0] and result.messages[1] == eval_policy.prompts[0][1]
    assert (reason == "sandbox_error") == (result.reward is None) and trace.resolved == result.resolved
    if reason == "submitted":  # the script's malformed output and timeout got the core's messages in both
        assert "could not be parsed" in eval_feedback[1] and eval_feedback[2].endswith("timed out: no output for 5s")
        assert trace.resolved and result.reward == 1.0


def test_the_contexts_differ_only_in_what_is_shown():
    """Eval (last-k) shows the calls of the last two good rounds without their reasoning; RLVR (growing) keeps
    every raw output."""
    outputs = SCRIPTS["step_limit"]
    _trace, eval_policy = _eval(outputs)
    assert [m["content"] for m in eval_policy.prompts[3] if m["role"] == "assistant"] == \
        [Action.bash("ls").render(), Action.bash("echo " + "y" * 500).render()]
    from srl_agent.eval.episode import Episode, EpisodeRules

    growing = Episode(TASK.problem_statement, PoolableRuntime(), EpisodeRules(max_steps=STEPS, context="growing",
                                                                               prompt=PROMPT))
    growing.start()
    for raw in outputs[:3]:
        growing.act(raw)
    assert [m["content"] for m in growing.messages() if m["role"] == "assistant"] == outputs[:3]


def test_rollout_context_is_a_setting_and_last_k_is_refused_with_the_reason():
    from srl_agent.errors import ConfigError
    from srl_agent.train.config import load_config
    from srl_agent.train.rlvr import RLVRConfig

    cfg = load_config(RLVRConfig, "rlvr_cpu")
    assert cfg.rollout_context == "growing" and cfg.limits().rules().context == "growing"
    assert cfg.to_dict()["rollout_context"] == "growing"  # written to train_config.json
    with pytest.raises(ConfigError, match="rollout_func takes one"):
        load_config(RLVRConfig, "rlvr_cpu", rollout_context="last-k")
    with pytest.raises(ConfigError):
        EpisodeLimits(context="last-k")
