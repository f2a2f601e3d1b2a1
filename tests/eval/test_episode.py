"""The episode core's stop rules, messages and contexts, driven by scripted outputs in a small fake runtime."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from srl_agent.actions import Action, format_completion
from srl_agent.eval.episode import Episode, EpisodeRules, format_error_message, observation_message
from srl_agent.errors import CommandTimeoutError, ConfigError, SandboxError
from srl_agent.prompts import PromptConfig, build_step_messages
from srl_agent.trajectory import Step

TASK_TEXT = "Make f() return 2."


@dataclass
class _Obs:
    output: str
    exit_code: int | None = 0
    timed_out: bool = False
    duration: float = 0.01


class FakeRuntime:
    """Runs nothing: `slow` times out, `boom` kills the sandbox, `oserror` fails at the OS level, `create` edits
    a file into the diff, anything else echoes."""

    def __init__(self) -> None:
        self.calls: list[Action] = []
        self.files: dict[str, str] = {}

    def execute(self, action: Action, timeout=None) -> _Obs:
        self.calls.append(action)
        command = action.args.get("command")
        if command == "slow":
            raise CommandTimeoutError(f"no output for {timeout}s")
        if command == "boom":
            raise SandboxError("container died")
        if command == "oserror":
            raise OSError("connection reset")
        if action.tool == "str_replace_editor" and command == "create":
            self.files[action.args["path"]] = action.args["file_text"]
            return _Obs(f"File created successfully at: {action.args['path']}")
        if action.tool == "submit":
            return _Obs(self.diff())
        return _Obs(f"$ {command}\nok")

    def diff(self) -> str:
        return "".join(f"diff --git a{p} b{p}\n+{t}\n" for p, t in sorted(self.files.items()))


def _say(action: Action, thought: str = "next") -> str:
    return format_completion(thought, action)


def _play(outputs, rules=EpisodeRules(), **kw) -> Episode:
    ep = Episode(TASK_TEXT, kw.pop("runtime", None) or FakeRuntime(), rules, **kw)
    ep.start()
    for raw in outputs:
        if ep.check_limits():
            break
        ep.act(raw)
        if ep.done:
            break
    return ep


def test_submit_ends_the_episode_and_is_run():
    runtime = FakeRuntime()
    ep = _play([_say(Action.bash("ls")), _say(Action.submit()), _say(Action.bash("never"))], runtime=runtime)
    assert ep.stop.reason == "submitted" and ep.turns[-1].stop == ep.stop
    assert [a.tool for a in runtime.calls] == ["bash", "submit"]
    assert len(ep.turns) == 2 and ep.history[-1].action.tool == "submit"


def test_step_limit_counts_malformed_outputs_and_ends_on_the_last_allowed_output():
    ep = _play(["no think", _say(Action.bash("ls")), "still no think", _say(Action.bash("ls"))],
               EpisodeRules(max_steps=3))
    assert ep.stop.reason == "step_limit" and len(ep.turns) == 3 and ep.format_errors == 2
    assert ep.turns[-1].stop.reason == "step_limit" and "3 steps" in ep.stop.detail
    assert ep.check_limits() == ep.stop  # stays over once over


def test_time_limit_is_checked_before_each_step():
    now = [0.0]
    ep = Episode(TASK_TEXT, FakeRuntime(), EpisodeRules(time_limit_s=10), clock=lambda: now[0])
    ep.start()
    assert ep.check_limits() is None
    ep.act(_say(Action.bash("ls")))
    now[0] = 10.5
    assert ep.check_limits().reason == "time_limit" and "10s" in ep.stop.detail
    assert len(ep.turns) == 1


def test_context_limit_only_over_the_limit_and_never_when_unlimited():
    ep = Episode(TASK_TEXT, FakeRuntime())
    assert ep.context_limit(100, None, "chars") is None and ep.context_limit(100, 100, "chars") is None
    stop = ep.context_limit(101, 100, "tokens")
    assert stop.reason == "context_limit" and stop.detail == "prompt of 101 tokens > 100"
    assert ep.context_limit(5, 1, "chars") is stop  # the first reason stays


def test_malformed_output_gets_the_format_message_and_never_reaches_the_runtime():
    runtime = FakeRuntime()
    ep = _play(["no think block at all"], runtime=runtime)
    turn = ep.turns[0]
    assert runtime.calls == [] and not ep.done and turn.action is None
    assert "must start with <think>" in turn.format_error
    assert turn.observation == format_error_message(turn.format_error)
    assert turn.feedback == "OBSERVATION:\n" + turn.observation
    assert "Reply with your reasoning inside <think>" in turn.observation


def test_timeout_is_told_to_the_model_and_the_episode_goes_on():
    ep = _play([_say(Action.bash("slow"))], EpisodeRules(command_timeout=7))
    turn = ep.turns[0]
    assert not ep.done and turn.timed_out and turn.exit_code is None
    assert turn.observation == "The command timed out: no output for 7s"
    assert ep.history[-1].observation == turn.observation  # shown as that round's observation


@pytest.mark.parametrize("command, detail", [("boom", "container died"), ("oserror", "connection reset")])
def test_sandbox_failure_ends_the_episode(command, detail):
    ep = _play([_say(Action.bash(command)), _say(Action.submit())])
    assert ep.stop.reason == "sandbox_error" and ep.stop.detail == detail and len(ep.turns) == 1
    assert ep.turns[0].observation == f"[sandbox error: {detail}]"


def test_prefix_that_does_not_replay_is_a_sandbox_error_before_any_step():
    prefix = [Step(thought="t", action=Action.bash("ls"), observation="x"),
              Step(thought="t", action=Action.bash("slow"), observation="x")]
    ep = Episode(TASK_TEXT, FakeRuntime(), prefix=prefix)
    stop = ep.start()
    assert stop.reason == "sandbox_error" and "could not replay the expert prefix" in stop.detail
    assert len(ep.history) == 1 and ep.turns == []


def test_last_k_prompt_is_the_training_prompt_plus_the_latest_errors():
    rules = EpisodeRules(context="last-k", prompt=PromptConfig(context_rounds=2))
    ep = _play([_say(Action.bash("a")), _say(Action.bash("b")), _say(Action.bash("c"))], rules)
    assert ep.messages() == build_step_messages(TASK_TEXT, ep.history, rules.prompt)
    assert [m["content"] for m in ep.messages() if m["role"] == "assistant"] == [Action.bash(c).render() for c in "bc"]
    for raw in ["bad 1", "bad 2", "bad 3"]:
        ep.act(raw)
    msgs = ep.messages()
    assert msgs[:-4] == build_step_messages(TASK_TEXT, ep.history, rules.prompt)
    assert [m["content"] for m in msgs[-4::2]] == ["bad 2", "bad 3"]  # only the last two errors are shown
    assert msgs[-1]["content"] == ep.turns[-1].feedback
    ep.act(_say(Action.bash("d")))
    assert ep.messages() == build_step_messages(TASK_TEXT, ep.history, rules.prompt)  # errors gone again


def test_growing_context_keeps_every_raw_output_and_observation():
    rules = EpisodeRules(max_steps=3, context="growing", prompt=PromptConfig(max_observation_chars=64))
    outputs = [_say(Action.bash("echo " + "x" * 200)), "no think", _say(Action.bash("ls"))]
    ep = _play(outputs, rules)
    msgs = ep.messages()
    assert msgs[:2] == build_step_messages(TASK_TEXT, [], rules.prompt)
    assert [m["content"] for m in msgs[2::2]] == outputs  # raw, with the reasoning
    assert [m["content"] for m in msgs[3::2]] == [t.feedback for t in ep.turns[:2]]
    assert msgs[-1]["role"] == "assistant"  # nothing follows the last allowed output
    assert len(msgs[3]["content"]) <= len("OBSERVATION:\n") + 64 and "omitted" in msgs[3]["content"]
    assert ep.stop.reason == "step_limit"


def test_both_contexts_show_the_same_observation_text_and_the_same_prefix_rounds():
    prefix = [Step(thought="t", action=Action.bash("ls"), observation="stale")]
    outputs = [_say(Action.bash("cat f.py")), "bad", _say(Action.submit())]
    eps = {c: _play(outputs, EpisodeRules(context=c), prefix=prefix) for c in ("last-k", "growing")}
    last_k, growing = eps["last-k"], eps["growing"]
    assert [t.feedback for t in last_k.turns] == [t.feedback for t in growing.turns]
    assert last_k.turns[0].feedback == observation_message("$ cat f.py\nok", PromptConfig())
    assert last_k.stop == growing.stop
    assert growing.messages()[2:4] == [{"role": "assistant", "content": Action.bash("ls").render()},
                                       {"role": "user", "content": "OBSERVATION:\n$ ls\nok"}]  # this runtime's output


def test_rules_reject_unknown_context_and_bad_step_limit():
    with pytest.raises(ConfigError, match="context must be one of"):
        EpisodeRules(context="sliding")
    with pytest.raises(ConfigError):
        EpisodeRules(max_steps=0)
