"""The step reward: exactly difflib's ratio on canonical actions, -1 on every kind of format error."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srl_agent import reward
from srl_agent.actions import Action, format_completion, render
from srl_agent.reward import RewardConfig, score_completion, similarity, srl_reward, step_reward
from srl_agent.train.fixtures import corpus_pairs

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
EXPERT = render(Action.bash("grep -rn 'def add' /testbed"))


@pytest.fixture(scope="module")
def real_pairs() -> list[tuple[str, str]]:
    if not CORPUS.is_dir():
        if IN_CI:
            pytest.fail(f"the shared corpus is missing in CI (expected {CORPUS})")
        pytest.skip(f"no shared corpus at {CORPUS}: real-pair tests need ../shared beside the repo")
    pairs = corpus_pairs(CORPUS, n=600)
    assert len(pairs) >= 300
    return pairs


@pytest.mark.parametrize("autojunk", [False, True])
def test_similarity_equals_difflib_on_real_pairs(real_pairs, autojunk):
    """The fast backend must give bit-identical numbers to difflib on real actions, long ones included."""
    assert sum(len(a) >= 200 for a, _ in real_pairs) > 50  # the autojunk heuristic is exercised
    for a, b in real_pairs:
        assert similarity(a, b, autojunk=autojunk) == difflib.SequenceMatcher(None, a, b, autojunk=autojunk).ratio()


def test_reward_of_real_pairs_is_difflib_ratio(real_pairs):
    for a, b in real_pairs[:200]:
        completion = format_completion("thinking", reward.parse_call(a))
        assert step_reward(completion, b) == difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def test_autojunk_setting_changes_long_strings(real_pairs):
    """The setting is real: on long actions autojunk=True gives different numbers for some pairs."""
    assert any(similarity(a, b, autojunk=True) != similarity(a, b, autojunk=False) for a, b in real_pairs)


_alphabet = st.sampled_from(list("ab c\n_e()=<>/") + ["é", "∂", "\t"])


@settings(max_examples=300, deadline=None)
@given(a=st.text(_alphabet, max_size=400), b=st.text(_alphabet, max_size=400), autojunk=st.booleans())
def test_similarity_equals_difflib_on_generated_strings(a, b, autojunk):
    assert similarity(a, b, autojunk=autojunk) == difflib.SequenceMatcher(None, a, b, autojunk=autojunk).ratio()


@settings(max_examples=100, deadline=None)
@given(a=st.text(max_size=300), b=st.text(max_size=300))
def test_similarity_equals_difflib_on_any_unicode(a, b):
    assert similarity(a, b) == difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def test_identical_action_scores_one_and_reordered_parameters_do_not_matter():
    expert = render(Action.editor("str_replace", "/t/a.py", old_str="x", new_str="y"))
    shuffled = "<function=str_replace_editor>\n<parameter=new_str>y</parameter>\n<parameter=old_str>x</parameter>" \
               "\n<parameter=path>/t/a.py</parameter>\n<parameter=command>str_replace</parameter>\n</function>"
    assert step_reward(f"<think>edit</think>\n{shuffled}", expert) == 1.0


@pytest.mark.parametrize("completion", [
    "",
    "just text",
    "<function=bash>\n<parameter=command>ls</parameter>\n</function>",                      # no think
    "<think></think>\n<function=bash>\n<parameter=command>ls</parameter>\n</function>",      # empty think
    "<think>   </think><function=bash><parameter=command>ls</parameter></function>",          # blank think
    "<think>look</think>",                                                                    # no call
    "<think>look</think>\n<function=bash>\n<parameter=command>ls</parameter>\n</function>"
    "\n<function=bash>\n<parameter=command>pwd</parameter>\n</function>",                    # two calls
    "<think>look\n<function=bash>\n<parameter=command>ls</parameter>\n</function>",          # unclosed think
    "<think>look</think>\n<function=bash>\n<parameter=command>ls\n</function>",              # unclosed parameter
    "<think>look</think>\n<function=bash>\n<parameter=command>ls</parameter>\n",             # unclosed call
    "<think>look</think>\n<function=bash>\n<parameter=command>ls</parameter>\n</function>\nthanks",  # trailing
    "hi <think>look</think>\n<function=bash>\n<parameter=command>ls</parameter>\n</function>",       # leading
    "<think>look</think>\n<function=python>\n<parameter=code>1</parameter>\n</function>",    # unknown tool
    "<think>a</think><think>b</think>\n<function=submit>\n</function>",                      # two thinks
    "<think>look</think>\n<function=bash>\n</function>",                                     # missing command
    "<think>look</think>\n<function=str_replace_editor>\n<parameter=command>delete</parameter>"
    "\n<parameter=path>/a</parameter>\n</function>",                                         # bad editor command
])
def test_every_format_error_scores_minus_one(completion):
    assert step_reward(completion, EXPERT) == -1.0
    assert srl_reward([completion], [EXPERT]) == [-1.0]
    assert score_completion(completion, EXPERT).parsed.error


def test_reward_is_in_unit_interval_for_well_formed_outputs():
    for action in (Action.submit(), Action.bash("ls"), Action.editor("view", "/testbed/calc.py")):
        r = step_reward(format_completion("t", action), EXPERT)
        assert 0.0 <= r < 1.0


def test_srl_reward_accepts_plain_and_conversational_completions():
    good = format_completion("find it", Action.bash("grep -rn 'def add' /testbed"))
    conv = [{"role": "assistant", "content": good}]
    parts = [{"role": "assistant", "content": [{"type": "text", "text": good}]}]
    assert srl_reward([good, conv, parts, "bad"], [EXPERT] * 4, prompts=None) == [1.0, 1.0, 1.0, -1.0]
    assert srl_reward([good], EXPERT) == [1.0]
    assert srl_reward.__name__ == "srl_reward"


def test_monologue_is_never_compared():
    a = format_completion("short", Action.bash("ls"))
    b = format_completion("a very different and much longer monologue " * 10, Action.bash("ls"))
    assert step_reward(a, EXPERT) == step_reward(b, EXPERT)


def test_equivalence_is_off_by_default_and_merges_view_spellings():
    expert = render(Action.editor("view", "/testbed/calc.py"))
    cat = format_completion("read", Action.bash("cat /testbed/calc.py"))
    assert step_reward(cat, expert) < 1.0
    assert step_reward(cat, expert, equivalence=True) == 1.0
    sed = format_completion("read", Action.bash("sed -n '3,9p' /testbed/calc.py"))
    ranged = render(Action.editor("view", "/testbed/calc.py", view_range="[3, 9]"))
    assert step_reward(sed, ranged, equivalence=True) == 1.0
    other = format_completion("run", Action.bash("cat /testbed/a.py | grep x"))
    assert step_reward(other, expert, equivalence=True) < 1.0


def test_reward_config_rejects_unknown_settings():
    from srl_agent.errors import ConfigError

    assert RewardConfig.from_dict({"autojunk": True}).autojunk is True
    with pytest.raises(ConfigError):
        RewardConfig.from_dict({"auto_junk": True})


def test_backend_is_exact_or_falls_back():
    """Whatever backend was picked, it passed the self-check (or is difflib itself)."""
    assert reward.BACKEND in ("cydifflib", "difflib")
    for a, b in reward._SELF_CHECK:
        assert similarity(a, b, autojunk=True) == difflib.SequenceMatcher(None, a, b).ratio()
