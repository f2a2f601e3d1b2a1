"""Per-example results of `srl eval-steps`: what the student wrote for one step example and how it scored.

One JSON line per example (schema "srl-step-result/1") in `examples.jsonl`, beside the run's totals in
`summary.json`; `srl traces view` renders them as a step-level page.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterator

from srl_agent.errors import InputError

STEP_RESULT_SCHEMA = "srl-step-result/1"
STEPS_SUMMARY_SCHEMA = "srl-eval-steps/1"
EXAMPLES_FILE = "examples.jsonl"
SUMMARY_FILE = "summary.json"


@dataclass
class StepResult:
    """One step example: the prompt, the student's completion, what it parsed into, the expert action, reward."""

    index: int                      # row number in the evaluated split
    prompt: list[dict]              # the exact chat messages the student was given
    completion: str                 # the student's raw output
    expert_action: str              # canonical text of the expert's action at this step
    reward: float                   # srl_agent.reward.step_reward(completion, expert_action)
    think: str | None = None
    action: str | None = None       # canonical text of the parsed call; None when malformed
    action_tool: str | None = None
    format_error: str | None = None
    instance_id: str = ""
    step_index: int | None = None   # k: the expert step this example asks for (0-based)
    num_steps: int | None = None    # steps in the expert trajectory
    tool: str | None = None         # the expert's tool at this step
    expert_thought: str = ""
    source: str = ""                # file#index of the expert trajectory

    @property
    def status(self) -> str:
        """One word for the viewer's filters: exact (reward 1), partial (parsed, reward < 1) or malformed."""
        if self.format_error is not None:
            return "malformed"
        return "exact" if self.reward >= 1.0 else "partial"

    def to_dict(self) -> dict:
        return {"schema": STEP_RESULT_SCHEMA, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "StepResult":
        if not isinstance(d, dict) or d.get("schema") != STEP_RESULT_SCHEMA:
            got = d.get("schema") if isinstance(d, dict) else type(d).__name__
            raise InputError(f"not a step result (schema {got!r}, expected {STEP_RESULT_SCHEMA!r})")
        names = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in d.items() if k in names})
        except TypeError as exc:
            raise InputError(f"step result with missing fields ({exc})") from None


def is_step_results_file(path: Path) -> bool:
    """True when the first non-empty line of `path` is a step result."""
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    return json.loads(line).get("schema") == STEP_RESULT_SCHEMA
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return False
    return False


def read_step_results(path: str | Path) -> Iterator[StepResult]:
    """Every step result of an examples.jsonl; raises InputError naming the line at fault."""
    path = Path(path)
    try:
        fh = open(path, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield StepResult.from_dict(json.loads(line))
            except (json.JSONDecodeError, InputError) as exc:
                raise InputError(f"{path}:{lineno}: {exc}") from None


def summary_for(examples: Path) -> Path:
    """Where the totals of an examples file live: summary.json beside examples.jsonl, X.json beside
    X.examples.jsonl."""
    name = examples.name
    if name == EXAMPLES_FILE:
        return examples.with_name(SUMMARY_FILE)
    return examples.with_name(name.removesuffix(".examples.jsonl") + ".json")
