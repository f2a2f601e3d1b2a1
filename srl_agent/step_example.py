"""StepExample: one row of a step dataset (`srl traj split` -> SRL/SFT training, `srl eval-steps`), defined once.

The columns, their Arrow types and the schema version live here. The version is stored in every saved split
(`dataset_info.json`, field `description`: e.g. `srl-steps/1`) and checked when a dataset is loaded, so data
written by another srl-agent version fails with an error that says what to do instead of a KeyError mid-run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from srl_agent.errors import InputError

STEPS_SCHEMA = "srl-steps/1"
READABLE_STEPS_SCHEMAS = (STEPS_SCHEMA,)
REQUIRED_COLUMNS = ("prompt", "expert_action")  # what training reads; a third-party dataset needs only these


@dataclass(frozen=True)
class StepExample:
    """The prompt the student sees before step `step_index` of an expert trajectory, and the expert's answer."""

    prompt: list[dict]       # chat messages [{role, content}] as built by srl_agent.prompts.build_step_messages
    expert_action: str       # the canonical call text of the expert's action (srl_agent.actions.render)
    expert_thought: str      # the expert's reasoning before it ("" when the source had none)
    instance_id: str
    step_index: int          # 0-based position in the trajectory
    num_steps: int           # steps in the whole trajectory
    tool: str                # the action's tool (bash, str_replace_editor, submit, ...)
    trajectory: int          # the trajectory's line in the split's input (train/validation never share one)
    source: str              # "<file>#<index>" of the original record

    def to_row(self) -> dict:
        return asdict(self)


COLUMNS = tuple(f.name for f in fields(StepExample))


def features():
    """The Arrow schema of a step dataset (datasets.Features), in COLUMNS order."""
    import datasets

    text = datasets.Value("string")
    return datasets.Features({
        "prompt": datasets.List({"role": text, "content": text}),
        "expert_action": text, "expert_thought": text, "instance_id": text,
        "step_index": datasets.Value("int32"), "num_steps": datasets.Value("int32"), "tool": text,
        "trajectory": datasets.Value("int64"), "source": text,
    })


def stamp(dataset_dict):
    """Mark every split with the schema version (saved with it by save_to_disk); returns the same object."""
    for ds in dataset_dict.values():
        ds.info.description = STEPS_SCHEMA
    return dataset_dict


def check_steps(ds, where: str) -> None:
    """Refuse a split written with another step schema, or one without the columns training reads."""
    version = (ds.info.description or "").strip()
    if version.startswith("srl-steps/") and version not in READABLE_STEPS_SCHEMAS:
        raise InputError(f"{where}: step dataset of schema {version}, this srl-agent reads "
                         f"{', '.join(READABLE_STEPS_SCHEMAS)}; re-make it with `srl traj split` (or use the "
                         "srl-agent version that wrote it)")
    missing = [c for c in REQUIRED_COLUMNS if c not in ds.column_names]
    if missing and "messages" not in ds.column_names:
        raise InputError(f"{where} lacks column(s) {', '.join(missing)}: is it a step-example dataset? "
                         "(make one with `srl traj split`)")
    if version == STEPS_SCHEMA:
        extra = [c for c in COLUMNS if c not in ds.column_names]
        if extra:
            raise InputError(f"{where}: marked {STEPS_SCHEMA} but lacks column(s) {', '.join(extra)}; "
                             "re-make it with `srl traj split`")
