"""The SRL step prompt (srl_agent.prompts): the contract the trainer and the agent loop both rely on."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, strategies as st

from srl_agent.actions import EDITOR_COMMANDS, Action, format_completion, parse_completion, render
from srl_agent.errors import ConfigError
from srl_agent.prompts import SYSTEM_PROMPT, PromptConfig, build_step_messages, truncate_middle
from srl_agent.trajectory import Step


def _steps(n: int) -> list[Step]:
    return [Step(f"thought {i}", Action.bash(f"echo {i}"), f"out {i}") for i in range(n)]


def test_system_prompt_describes_think_one_call_and_the_three_tools():
    for needle in ("<think>", "</think>", "exactly one", "<function=", "<parameter=", "bash",
                   "str_replace_editor", "submit", "old_str", "new_str", "file_text", "insert_line", "view_range"):
        assert needle in SYSTEM_PROMPT
    for cmd in EDITOR_COMMANDS:
        assert cmd in SYSTEM_PROMPT


def test_default_shows_the_last_two_rounds_and_says_earlier_ones_are_omitted():
    msgs = build_step_messages("Fix the bug.", _steps(5))
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert msgs[0]["content"] == SYSTEM_PROMPT
    assert msgs[1]["content"].startswith("Fix the bug.")
    assert "already taken 5 steps; only the last 2 are shown below, the first 3 left out" in msgs[1]["content"]
    assert msgs[2]["content"] == render(Action.bash("echo 3")) and msgs[5]["content"] == "OBSERVATION:\nout 4"
    assert "thought" not in msgs[2]["content"]


@pytest.mark.parametrize("k,n,expected_rounds", [(0, 3, 0), (1, 3, 1), (2, 1, 1), (-1, 4, 4), (5, 3, 3)])
def test_context_rounds(k, n, expected_rounds):
    msgs = build_step_messages("task", _steps(n), PromptConfig(context_rounds=k))
    assert len(msgs) == 2 + 2 * expected_rounds
    assert ("You have already taken" in msgs[1]["content"]) == (expected_rounds < n)


def test_first_step_prompt_is_system_and_task_only():
    assert build_step_messages("task", []) == [{"role": "system", "content": SYSTEM_PROMPT},
                                                {"role": "user", "content": "task"}]


def test_show_thoughts_puts_the_thought_in_think_before_the_call():
    msgs = build_step_messages("task", _steps(1), PromptConfig(show_thoughts=True))
    parsed = parse_completion(msgs[2]["content"])
    assert parsed.ok and parsed.think.strip() == "thought 0" and parsed.action == Action.bash("echo 0")


def test_long_observation_is_cut_in_the_middle_with_a_marker():
    step = Step("", Action.bash("cat big"), "HEAD" + "x" * 10_000 + "TAIL")
    msgs = build_step_messages("task", [step], PromptConfig(max_observation_chars=500))
    obs = msgs[3]["content"]
    assert obs.startswith("OBSERVATION:\nHEAD") and obs.endswith("TAIL") and "characters omitted" in obs
    assert len(obs) <= len("OBSERVATION:\n") + 500


def test_pure_and_duck_typed_history():
    @dataclass
    class StudentStep:  # the agent loop passes its own step type
        thought: str
        action: Action
        observation: str

    hist = [StudentStep("t", Action.submit(), "")]
    first = build_step_messages("task", hist)
    assert build_step_messages("task", hist) == first and hist[0].observation == ""
    assert first[2]["content"] == "<function=submit>\n</function>"


def test_expert_target_round_trips_through_the_student_parser():
    action = Action.editor("str_replace", "/testbed/a.py", old_str="a - b", new_str="a + b")
    parsed = parse_completion(format_completion("fix the sign", action))
    assert parsed.ok and render(parsed.action) == render(action)


def test_invalid_config_says_what_to_do():
    with pytest.raises(ConfigError, match="context_rounds"):
        PromptConfig(context_rounds=-2)


@given(st.text(max_size=3000), st.integers(min_value=64, max_value=2000))
def test_truncate_middle_never_exceeds_the_limit(text, limit):
    out = truncate_middle(text, limit)
    assert len(out) <= limit
    assert out == text or "characters omitted" in out
    if len(text) <= limit:
        assert out == text


def test_omitted_note_counts_the_steps_taken_not_the_steps_left_out():
    """At step 8 with 2 context rounds, 8 steps were taken and 6 are left out (the note once said "taken 6")."""
    msgs = build_step_messages("task", _steps(8), PromptConfig(context_rounds=2))
    assert msgs[1]["content"] == ("task\n\n(You have already taken 8 steps; only the last 2 are shown below, "
                                  "the first 6 left out.)")
    none = build_step_messages("task", _steps(1), PromptConfig(context_rounds=0))[1]["content"]
    assert none == "task\n\n(You have already taken 1 step; it is not shown.)"
    one = build_step_messages("task", _steps(2), PromptConfig(context_rounds=1))[1]["content"]
    assert one.endswith("(You have already taken 2 steps; only the last one is shown below, the first 1 left out.)")
