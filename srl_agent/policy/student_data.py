"""The default student's data (srl_agent.policy.student): bundled trajectories split by package, name-renamed
copies of them, and built-in SWE-style step examples generated from a seed.

Which trajectories the student may learn from: those of the bundled suite's TRAIN packages only (suite.yaml's
`split`, per package; for pypi-mutants boltons, toolz and more-itertools). The held-out packages' trajectories
(inflection, tabulate) are used for one thing, measuring the parse rate of the built student, and never reach
its tokenizer or its weights. Renamed copies (`rename_names`) replace the package's own names (package, modules,
test files, the symbols the issue names) by made-up ones, consistently across the issue, thoughts, actions and
observations, so the warm start teaches "copy the names from the context" instead of "remember boltons".
"""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass
from pathlib import Path

from srl_agent.actions import Action, format_completion

TRAIN, HELD_OUT = "train", "test"

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


def tokenizer_texts(seed: int = 0, trajectories=()) -> list[str]:
    """The text the tokenizer is trained on: prompts, completions and code of generated episodes, plus every
    string of the given (train-package) trajectories."""
    from srl_agent.prompts import SYSTEM_PROMPT

    rng = random.Random(seed)
    texts = [SYSTEM_PROMPT]
    for prompt, target in step_examples(150, seed):
        texts.append(prompt[-1]["content"])
        texts.append(target)
    for _ in range(60):
        texts.append(_CODE.format(**_names(rng)))
    for traj in trajectories:
        texts.append(traj.task.problem_statement)
        for step in traj.steps:
            texts += [step.thought, *step.action.args.values(), step.observation]
    return [t for t in texts if t]


# ------------------------------------------------------------------------------ bundled trajectories by package
def bundled_trajectory_files() -> list[Path]:
    """The bundled expert trajectories (srl_agent/resources/trajectories/*.jsonl)."""
    from srl_agent.resources import resource_dir

    root = resource_dir("trajectories")
    return sorted(root.glob("*.jsonl")) if root.is_dir() else []


def package_splits(suite: str | None = None) -> dict[str, str]:
    """instance_id -> split (train / test) of the bundled suite's tasks; {} when the suite is not there."""
    from srl_agent.errors import SRLError
    from srl_agent.tasks.suite import DEFAULT_SUITE, load_suite

    try:
        return {t.instance_id: t.split or "" for t in load_suite(suite or DEFAULT_SUITE)}
    except SRLError:
        return {}


def trajectories_by_split(files: list[Path] | None = None) -> dict[str, list]:
    """{"train": [...], "test": [...]}: bundled trajectories by their task's split in the suite (or, for a task the
    suite does not list, the split the trajectory's own task record names); unresolved ones are left out."""
    from srl_agent.trajectory import read_trajectories

    splits = package_splits()
    out: dict[str, list] = {TRAIN: [], HELD_OUT: []}
    for file in bundled_trajectory_files() if files is None else files:
        for traj in read_trajectories(file):
            split = splits.get(traj.task.instance_id, traj.task.split or "")
            if split in out and traj.resolved is not False:
                out[split].append(traj)
    return out


def trajectory_pairs(trajectories, context_rounds: int = 2) -> list[tuple[list[dict], str]]:
    """(prompt messages, target completion) for every step, built exactly as `srl traj split` builds them."""
    from srl_agent.prompts import PromptConfig, build_step_messages

    cfg = PromptConfig(context_rounds=context_rounds)
    pairs = []
    for traj in trajectories:
        issue, steps = (traj if isinstance(traj, tuple) else (traj.task.problem_statement, traj.steps))
        for k, step in enumerate(steps):
            pairs.append((build_step_messages(issue, steps[:k], cfg), format_completion(step.thought, step.action)))
    return pairs


# ------------------------------------------------------------------------------------------- renamed copies
_SYLLABLES = ("ka", "lo", "mi", "ver", "tan", "sul", "po", "rek", "ni", "das", "fu", "gor", "bel", "chi", "ze",
              "mar", "quo", "lin", "tor", "ves")
_KEEP = {"test", "tests", "repro", "reproduce", "reproduce_bug", "reproduce_issue", "setup", "conftest", "testbed",
         "python3", "pytest", "init", "main"}


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))


def own_names(traj) -> set[str]:
    """The names that belong to this task's package: package, module and test-file stems in the actions, the
    symbols the issue puts in backticks, and the mutated function's name."""
    extra = traj.task.extra or {}
    package = str(extra.get("package") or traj.task.instance_id.split("-")[0])
    names = {package, package.replace("-", "_")}
    for step in traj.steps:
        for value in step.action.args.values():
            names.update(m.group(1) for m in re.finditer(r"([A-Za-z_][A-Za-z0-9_]*)\.py\b", value))
    names.update(m.group(1) for m in re.finditer(r"`([A-Za-z_][A-Za-z0-9_]*)", traj.task.problem_statement))
    names.update(str((extra.get("mutation") or {}).get("function") or "").split("."))
    return {n for n in names if len(n) >= 4 and not n.startswith("__") and n not in _KEEP}


def _made_up(name: str, rng: random.Random) -> str:
    if name[:1].isupper():
        return "".join(_word(rng).title() for _ in range(max(1, sum(c.isupper() for c in name))))
    if name.startswith("test_"):
        return "test_" + _word(rng)
    return "_".join(_word(rng) for _ in name.strip("_").split("_")) if "_" in name.strip("_") else _word(rng)


def rename_names(traj, rng: random.Random) -> tuple[str, list]:
    """(issue, steps) of `traj` with its own names replaced by made-up ones, the same way everywhere."""
    mapping = {n: _made_up(n, rng) for n in sorted(own_names(traj), key=lambda n: (-len(n), n))}
    if not mapping:
        return traj.task.problem_statement, list(traj.steps)
    rx = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(map(re.escape, mapping)) + r")(?![A-Za-z0-9])")

    def sub(text: str) -> str:
        return rx.sub(lambda m: mapping[m.group(1)], text)

    steps = [dataclasses.replace(s, thought=sub(s.thought), observation=sub(s.observation),
                                 action=Action(s.action.tool, {k: sub(v) for k, v in s.action.args.items()}))
             for s in traj.steps]
    return sub(traj.task.problem_statement), steps
