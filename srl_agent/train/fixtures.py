"""Small step-example and trajectory datasets for tests and demos, plus real action texts from the corpus.

They ship with the package (fakes live in the package, STYLE.md) so users can test their own set-ups.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from srl_agent.actions import Action, FormatError, format_completion, parse_call, render

from srl_agent.step_example import COLUMNS as STEP_COLUMNS, StepExample, features, stamp  # noqa: F401

# (issue, [(thought, action, observation)]) -- short, SWE-style, varied enough for rewards to differ.
_TASKS: list[tuple[str, list[tuple[str, Action, str]]]] = [
    ("calc.add returns the wrong sum for negative numbers.", [
        ("Find the add function.", Action.bash("grep -rn 'def add' /testbed"), "/testbed/calc.py:3:def add(a, b):"),
        ("Look at the file.", Action.editor("view", "/testbed/calc.py"), "1\tdef add(a, b):\n2\t    return a - b"),
        ("Fix the operator.", Action.editor("str_replace", "/testbed/calc.py", old_str="return a - b",
                                            new_str="return a + b"), "The file has been edited."),
        ("Run the tests.", Action.bash("cd /testbed && python -m pytest -q"), "3 passed"),
        ("Done.", Action.submit(), ""),
    ]),
    ("greet() should strip whitespace from the name.", [
        ("List the repo.", Action.bash("ls /testbed"), "greet.py\ntests"),
        ("Read greet.py.", Action.bash("cat /testbed/greet.py"), "def greet(n):\n    return 'hi ' + n"),
        ("Strip the name.", Action.editor("str_replace", "/testbed/greet.py", old_str="'hi ' + n",
                                          new_str="'hi ' + n.strip()"), "The file has been edited."),
        ("Submit.", Action.submit(), ""),
    ]),
    ("parse_version fails on versions with a leading v.", [
        ("Search for parse_version.", Action.bash("grep -rn parse_version /testbed/src"), "src/ver.py:1:def parse_version"),
        ("Open it.", Action.editor("view", "/testbed/src/ver.py", view_range="[1, 20]"), "1\tdef parse_version(s):"),
        ("Reproduce.", Action.bash("cd /testbed && python -c 'from src.ver import parse_version as p; p(\"v1.2\")'"),
         "ValueError: invalid literal"),
        ("Drop the prefix.", Action.editor("insert", "/testbed/src/ver.py", insert_line="1",
                                           new_str="    s = s.lstrip('v')"), "The file has been edited."),
        ("Submit the fix.", Action.submit(), ""),
    ]),
]


def _prompt(issue: str, history: list[tuple[str, Action, str]], rounds: int = 2) -> list[dict]:
    from srl_agent.prompts import PromptConfig, build_step_messages

    steps = [_Step(t, a, o) for t, a, o in history]
    return build_step_messages(issue, steps, PromptConfig(context_rounds=rounds))


class _Step:
    def __init__(self, thought: str, action: Action, observation: str) -> None:
        self.thought, self.action, self.observation = thought, action, observation


def step_rows(copies: int = 1) -> list[dict]:
    """Step-example rows (the columns of `srl traj split`) for the built-in fake tasks."""
    rows = []
    for c in range(copies):
        for t, (issue, steps) in enumerate(_TASKS):
            for k, (thought, action, _obs) in enumerate(steps):
                rows.append(StepExample(_prompt(issue, steps[:k]), render(action), thought,
                                        f"fake__task-{t}" + (f"-{c}" if c else ""), k, len(steps), action.tool,
                                        c * len(_TASKS) + t, f"srl_agent.train.fixtures#{t}").to_row())
    return rows


def step_dataset(copies: int = 1, validation: bool = True):
    """A small DatasetDict in the step-example format (train, and validation when asked)."""
    from datasets import Dataset, DatasetDict

    rows = step_rows(copies)
    splits = {"train": Dataset.from_list(rows, features=features())}
    if validation:
        splits["validation"] = Dataset.from_list(step_rows(1)[:4], features=features())
    return stamp(DatasetDict(splits))


def trajectory_chats() -> list[list[dict]]:
    """Whole fake trajectories as multi-turn chats (assistant = think + call; user = observation)."""
    chats = []
    for issue, steps in _TASKS:
        messages = _prompt(issue, [], rounds=0)
        for thought, action, obs in steps:
            messages.append({"role": "assistant", "content": format_completion(thought, action)})
            if obs:
                messages.append({"role": "user", "content": "OBSERVATION:\n" + obs})
        chats.append(messages)
    return chats


def write_trajectory_jsonl(path: str | Path) -> Path:
    """The fake tasks as canonical trajectories (schema srl-trajectory/1) in one JSONL file."""
    path = Path(path)
    with path.open("w") as f:
        for t, (issue, steps) in enumerate(_TASKS):
            record = {"schema": "srl-trajectory/1",
                      "task": {"instance_id": f"fake__task-{t}", "repo": "fake/repo", "problem_statement": issue},
                      "steps": [{"thought": th, "action": a.to_dict(), "observation": o, "exit_code": 0}
                                for th, a, o in steps],
                      "source": {"format": "fake", "file": "fixtures.py", "index": t}, "resolved": True}
            f.write(json.dumps(record) + "\n")
    return path


# ------------------------------------------------------------------------------ real actions from the corpus
def _first_call(text: str) -> str | None:
    start = text.find("<function=")
    end = text.find("</function>", start)
    if start < 0 or end < 0:
        return None
    try:
        return render(parse_call(text[start:end + len("</function>")]))
    except FormatError:
        return None


def corpus_actions(corpus: str | Path) -> list[str]:
    """Canonical action texts of the XML-style assistant turns in a corpus folder (../shared/corpus)."""
    corpus = Path(corpus)
    texts: list[str] = []
    ft = corpus / "swe-smith" / "ft_xml_example.jsonl"
    if ft.exists():
        for line in ft.read_text().splitlines():
            texts += [m["content"] for m in json.loads(line)["messages"] if m["role"] == "assistant"]
    rows = corpus / "swe-smith" / "hf_rows_sample.json"
    if rows.exists():
        for row in json.loads(rows.read_text()):
            msgs = json.loads(row["messages"]) if isinstance(row["messages"], str) else row["messages"]
            texts += [m["content"] for m in msgs if m["role"] == "assistant" and isinstance(m["content"], str)]
    return [a for a in (_first_call(t) for t in texts) if a]


def corpus_pairs(corpus: str | Path, n: int = 1000, seed: int = 0) -> list[tuple[str, str]]:
    """n (a, b) action pairs: every consecutive pair of the corpus, then random pairs up to n."""
    acts = corpus_actions(corpus)
    if len(acts) < 2:
        return []
    pairs = list(zip(acts, acts[1:]))
    rng = random.Random(seed)
    while len(pairs) < n:
        pairs.append((rng.choice(acts), rng.choice(acts)))
    return pairs[:n]
