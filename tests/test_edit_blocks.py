"""The SWE-RL edit format: what parses, what is a format error, how edits apply, the patch and the gold edit."""

from __future__ import annotations

import difflib
import subprocess

import pytest

from srl_agent.edit_blocks import (EditFormatError, apply_edits, normalized_change, parse_edits,
                                        patched_contents, render_edits, unified_patch)
from srl_agent.reward import FORMAT_ERROR_REWARD, make_patch_similarity_reward, patch_similarity_reward

FILES = {"pkg/m.py": "def f(x):\n    return x + 1\n\n\ndef g(x):\n    return x + 1\n", "pkg/n.py": "A = 1\n"}


def block(path: str, search: str, replace: str) -> str:
    return f"```python\n### {path}\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n```"


def out(*blocks: str, think: str = "reason") -> str:
    return f"<think>\n{think}\n</think>\n<solution>\n" + "\n".join(blocks) + "\n</solution>"


def test_a_well_formed_answer_parses_into_its_blocks():
    p = parse_edits(out(block("pkg/m.py", "def f(x):\n    return x + 1", "def f(x):\n    return x - 1"),
                        block("pkg/n.py", "A = 1", "A = 2")))
    assert p.think == "reason" and p.paths == ["pkg/m.py", "pkg/n.py"]
    assert p.edits[0].search == "def f(x):\n    return x + 1" and p.edits[1].replace == "A = 2"


@pytest.mark.parametrize("text, why", [
    ("no tags at all", "<think> must appear exactly once"),
    (out(block("a", "x", "y")) + "<think>again</think>", "<think> must appear exactly once"),
    (out(block("a", "x", "y"), think="  "), "the <think> block is empty"),
    ("<think>t</think><solution>just prose</solution>", "no search/replace block"),
    ("<think>t</think><solution>### a\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE</solution>",
     "no search/replace block"),  # not fenced
    ("<think>t</think>" + block("a", "x", "y"), "<solution> must appear exactly once"),
])
def test_malformed_answers_are_format_errors(text, why):
    with pytest.raises(EditFormatError, match=why.replace("<", "<").replace("/", "/")):
        parse_edits(text)


def test_edits_apply_at_line_starts_and_replace_every_occurrence():
    new = apply_edits(FILES, parse_edits(out(block("pkg/m.py", "    return x + 1", "    return x * 2"))).edits)
    assert new == {"pkg/m.py": "def f(x):\n    return x * 2\n\n\ndef g(x):\n    return x * 2\n"}
    with pytest.raises(EditFormatError, match="search text not found"):  # mid-line text is not a line start
        apply_edits(FILES, parse_edits(out(block("pkg/m.py", "return x + 1", "return 0"))).edits)
    with pytest.raises(EditFormatError, match="search and replace are the same"):
        apply_edits(FILES, parse_edits(out(block("pkg/n.py", "A = 1", "A = 1"))).edits)
    created = apply_edits(FILES, parse_edits(out(block("pkg/new.py", "", "B = 2\n"))).edits)
    assert created == {"pkg/new.py": "B = 2\n"}


def test_unified_patch_applies_with_git_and_gives_the_new_contents(tmp_path):
    new = {"pkg/m.py": FILES["pkg/m.py"].replace("x + 1", "x - 1", 1), "pkg/new.py": "B = 2"}
    for path, text in FILES.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    patch = unified_patch(FILES, new)
    subprocess.run(["git", "apply", "-"], input=patch, text=True, cwd=tmp_path, check=True)
    assert (tmp_path / "pkg/m.py").read_text() == new["pkg/m.py"] and (tmp_path / "pkg/new.py").read_text() == "B = 2"
    assert patched_contents(FILES, patch) == new
    assert unified_patch(FILES, {"pkg/n.py": "A = 1\n"}) == ""


def test_the_gold_edit_applies_back_to_exactly_the_gold_contents():
    """render_edits widens each search until it occurs once, since an edit replaces every occurrence."""
    old = {"m.py": "".join(f"x = {i % 3}\n" for i in range(30))}
    new = {"m.py": old["m.py"].replace("x = 1\nx = 2\nx = 0\nx = 1\n", "x = 1\nx = 5\nx = 0\nx = 1\n", 1) + "y\n",
           "made.py": "z = 1\n"}
    text = render_edits(old, new)
    assert apply_edits(old, parse_edits(text).edits) == new
    assert patch_similarity_reward(text, old, new) == 1.0


def test_patch_similarity_reward_is_swe_rl_s_number():
    """Mean over changed files of difflib's ratio (autojunk off) between normalized changes; -1 when malformed."""
    oracle = {"pkg/m.py": FILES["pkg/m.py"].replace("x + 1\n\n", "x - 1\n\n", 1)}
    pred_text = out(block("pkg/m.py", "def g(x):\n    return x + 1", "def g(x):\n    return x - 1"),
                    block("pkg/n.py", "A = 1", "A = 3"))
    pred = apply_edits(FILES, parse_edits(pred_text).edits)
    m = difflib.SequenceMatcher(None, normalized_change(FILES["pkg/m.py"], pred["pkg/m.py"]),
                                normalized_change(FILES["pkg/m.py"], oracle["pkg/m.py"]), autojunk=False).ratio()
    assert 0 < m < 1
    assert patch_similarity_reward(pred_text, FILES, oracle) == pytest.approx((m + 0.0) / 2)
    assert patch_similarity_reward("<think>x</think> no solution", FILES, oracle) == FORMAT_ERROR_REWARD
    assert patch_similarity_reward(out(block("pkg/m.py", "nope", "x")), FILES, oracle) == FORMAT_ERROR_REWARD
    reward = make_patch_similarity_reward()
    import json
    assert reward([pred_text, [{"role": "assistant", "content": pred_text}]], [json.dumps(FILES), FILES],
                  [json.dumps(oracle), oracle]) == pytest.approx([m / 2, m / 2])
