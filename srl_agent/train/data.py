"""Training data: step-example datasets (`srl traj split`) and trajectories, shaped for TRL's trainers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from srl_agent.actions import format_completion, parse_call
from srl_agent.errors import InputError
from srl_agent.step_example import REQUIRED_COLUMNS, check_steps

REQUIRED_STEP_COLUMNS = REQUIRED_COLUMNS
# A step whose expert wrote no reasoning still needs a non-empty think block, or the SFT target would teach
# the student an output that the strict parser rejects.
EMPTY_THOUGHT = "Next step."


def load_steps(data: str | Path, split: str = "train"):
    """One split of a step-example DatasetDict saved with save_to_disk (or a saved Dataset)."""
    from datasets import Dataset, DatasetDict, load_from_disk

    path = Path(data)
    if not path.exists():
        raise InputError(f"no data at {path}: make step examples with `srl traj split` (or pass --data DIR)")
    try:
        ds = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise InputError(f"{path} is not a dataset saved with save_to_disk ({exc}); "
                         "make one with `srl traj split`") from None
    if isinstance(ds, DatasetDict):
        if split not in ds:
            raise InputError(f"{path} has no split {split!r} (it has {', '.join(ds)})")
        ds = ds[split]
    assert isinstance(ds, Dataset)
    check_steps(ds, f"{path} [{split}]")
    if len(ds) == 0:
        raise InputError(f"split {split!r} of {path} is empty")
    return ds


def sft_step_target(expert_thought: str, expert_action: str) -> str:
    """The SFT target of a step: the expert's thought in <think> and its action (canonical text)."""
    thought = expert_thought if expert_thought and expert_thought.strip() else EMPTY_THOUGHT
    return format_completion(thought, parse_call(expert_action, tools=None))


def to_sft_steps(ds):
    """Step examples -> TRL conversational prompt-completion rows (loss on the completion only)."""
    def convert(row: dict[str, Any]) -> dict[str, Any]:
        target = sft_step_target(row.get("expert_thought") or "", row["expert_action"])
        return {"prompt": row["prompt"], "completion": [{"role": "assistant", "content": target}]}

    return ds.map(convert, remove_columns=ds.column_names)


def trajectory_messages(traj) -> list[dict[str, str]]:
    """A whole trajectory as one chat: system, task, then assistant (think + call) / user (observation) turns."""
    from srl_agent.prompts import PromptConfig, build_step_messages

    class _Shown:  # build_step_messages shows a thought only when it is non-empty; SFT targets always need one
        def __init__(self, step):
            self.thought = step.thought if step.thought.strip() else EMPTY_THOUGHT
            self.action, self.observation = step.action, step.observation

    messages = build_step_messages(traj.task.problem_statement, [_Shown(s) for s in traj.steps],
                                   PromptConfig(context_rounds=-1, show_thoughts=True))
    while messages and messages[-1]["role"] == "user" and len(messages) > 2:
        messages.pop()  # nothing to learn after the last action
    return messages


def load_trajectory_chats(data: str | Path):
    """A Dataset of {"messages"} from trajectory JSONL (a file or a folder of *.jsonl)."""
    from datasets import Dataset

    from srl_agent.trajectory import read_trajectories

    path = Path(data)
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if not files or not all(f.exists() for f in files):
        raise InputError(f"no trajectory JSONL at {path} (make it with `srl traj import`)")
    rows = [{"messages": trajectory_messages(t)} for f in files for t in read_trajectories(f)]
    if not rows:
        raise InputError(f"{path} holds no trajectories")
    return Dataset.from_list(rows)


def detect_form(data: str | Path) -> str:
    """`trajectory` for JSONL input, `step` for a saved dataset."""
    path = Path(data)
    if path.suffix == ".jsonl" or (path.is_dir() and any(path.glob("*.jsonl"))):
        return "trajectory"
    return "step"
