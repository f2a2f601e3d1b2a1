"""Built-in text for the default student (srl_agent.policy.student): SWE-style step examples and code from a seed.

The tiny student's tokenizer is trained on this text (plus the bundled trajectories when the source tree has
them), and its warm start is a short SFT on the examples below, so that it writes `<think>..</think>` and one
canonical call before GRPO starts (a random model never does, and then every reward is -1).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from srl_agent.actions import Action, format_completion

_DIRS = ["src", "lib", "pkg", "app", "utils", "core", "tests"]
_FILES = ["models", "utils", "parser", "config", "cli", "io", "views", "base", "compat", "helpers", "api"]
_FUNCS = ["parse", "load", "save", "render", "validate", "merge", "split_path", "to_dict", "from_json", "add",
          "normalize", "get_version", "read_config", "format_date", "apply_patch", "resolve"]
_WORDS = ["value", "name", "path", "items", "result", "data", "config", "key", "index", "count", "text"]
_ISSUES = [
    "{f}() raises TypeError when {w} is None.", "{f}() returns the wrong {w} for empty input.",
    "Calling {f} with a unicode {w} crashes.", "{f} ignores the {w} argument since the last release.",
    "The {w} returned by {f} is off by one.", "{f}() should accept a list of {w}s.",
]
_THOUGHTS = {
    "find": ["I should find where {f} is defined.", "Let me search the code for {f}.",
             "First locate the definition of {f}."],
    "list": ["Let me look at the layout of the repository.", "I will list the files to get oriented."],
    "view": ["Let me read {p} to see how {f} works.", "Open {p} and look at the implementation.",
             "I need to see the code in {p}."],
    "repro": ["I will reproduce the problem with a small script.", "Let me run the failing case first."],
    "edit": ["The bug is in {f}: {w} is not handled. I will fix it.", "Replace the faulty line in {p}.",
             "Handle the case where {w} is None in {f}."],
    "insert": ["Add a guard at the top of {f}.", "Insert a check for {w} after the signature."],
    "create": ["Write a script that reproduces the issue.", "Create a small test file for {f}."],
    "test": ["Run the tests to check the fix.", "Let me check that the tests pass now."],
    "submit": ["The fix works and the tests pass, so I will submit.", "Everything passes; submit the change."],
}

_CODE = '''def {f}({w}, default=None):
    """Return the {w} or the default."""
    if {w} is None:
        return default
    result = []
    for item in {w}:
        if not item:
            continue
        result.append(str(item).strip())
    return result


class {C}:
    def __init__(self, {w}):
        self.{w} = {w}

    def __repr__(self):
        return f"{C}({{self.{w}!r}})"
'''


@dataclass(frozen=True)
class FakeStep:
    """A step for build_step_messages (thought, action, observation)."""

    thought: str
    action: Action
    observation: str


def _names(rng: random.Random) -> dict[str, str]:
    f, w = rng.choice(_FUNCS), rng.choice(_WORDS)
    p = f"/testbed/{rng.choice(_DIRS)}/{rng.choice(_FILES)}.py"
    return {"f": f, "w": w, "p": p, "C": f.title().replace("_", ""), "d": p.rsplit("/", 1)[0]}


def _step(kind: str, n: dict[str, str], rng: random.Random) -> FakeStep:
    thought = rng.choice(_THOUGHTS[kind]).format(**n)
    f, w, p = n["f"], n["w"], n["p"]
    if kind == "find":
        action = Action.bash(rng.choice([f"grep -rn 'def {f}' /testbed", f"grep -rn {f} {n['d']}",
                                         f"find /testbed -name '*.py' | xargs grep -l {f}"]))
        obs = f"{p}:{rng.randint(3, 90)}:def {f}({w}):"
    elif kind == "list":
        action = Action.bash(rng.choice(["ls /testbed", "ls -la /testbed", f"ls {n['d']}", "git -C /testbed status"]))
        obs = "README.md\nsetup.py\nsrc\ntests"
    elif kind == "view":
        a = rng.randint(1, 60)
        action = rng.choice([Action.editor("view", p), Action.editor("view", p, view_range=f"[{a}, {a + 30}]"),
                             Action.bash(f"cat {p}")])
        obs = _CODE.format(**n)[:300]
    elif kind == "repro":
        action = Action.bash(f"cd /testbed && python -c 'from {n['d'].split('/')[-1]}.{p.split('/')[-1][:-3]} "
                             f"import {f}; print({f}(None))'")
        obs = f"TypeError: 'NoneType' object is not iterable"
    elif kind == "edit":
        action = Action.editor("str_replace", p, old_str=f"    for item in {w}:",
                               new_str=f"    for item in {w} or []:")
        obs = f"The file {p} has been edited."
    elif kind == "insert":
        action = Action.editor("insert", p, insert_line=str(rng.randint(1, 40)),
                               new_str=f"    if {w} is None:\n        return default")
        obs = f"The file {p} has been edited."
    elif kind == "create":
        action = Action.editor("create", "/testbed/reproduce.py",
                               file_text=f"from {p.split('/')[-1][:-3]} import {f}\nprint({f}(None))\n")
        obs = "File created successfully at: /testbed/reproduce.py"
    elif kind == "test":
        action = Action.bash(rng.choice(["cd /testbed && python -m pytest -q", f"python -m pytest -q tests -k {f}",
                                         "cd /testbed && python reproduce.py"]))
        obs = f"{rng.randint(2, 40)} passed in 0.{rng.randint(10, 99)}s"
    else:
        action, obs = Action.submit(), ""
    return FakeStep(thought, action, obs)


_PLANS = [["find", "view", "edit", "test", "submit"], ["list", "view", "repro", "insert", "test", "submit"],
          ["find", "create", "repro", "view", "edit", "test", "submit"], ["view", "edit", "submit"]]


def episodes(n: int, seed: int) -> list[tuple[str, list[FakeStep]]]:
    """n generated (issue, steps) episodes."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        names = _names(rng)
        issue = rng.choice(_ISSUES).format(**names)
        out.append((issue, [_step(k, names, rng) for k in rng.choice(_PLANS)]))
    return out


def step_examples(n_episodes: int, seed: int, context_rounds: int = 2) -> list[tuple[list[dict], str]]:
    """(prompt messages, target completion) pairs, one per step of each generated episode."""
    from srl_agent.prompts import PromptConfig, build_step_messages

    cfg = PromptConfig(context_rounds=context_rounds)
    pairs = []
    for issue, steps in episodes(n_episodes, seed):
        for k, step in enumerate(steps):
            pairs.append((build_step_messages(issue, steps[:k], cfg), format_completion(step.thought, step.action)))
    return pairs


def tokenizer_texts(seed: int = 0) -> list[str]:
    """The built-in text the tokenizer is trained on: prompts, completions and code of generated episodes."""
    from srl_agent.prompts import SYSTEM_PROMPT

    rng = random.Random(seed)
    texts = [SYSTEM_PROMPT]
    for prompt, target in step_examples(150, seed):
        texts.append(prompt[-1]["content"])
        texts.append(target)
    for _ in range(60):
        texts.append(_CODE.format(**_names(rng)))
    return texts
