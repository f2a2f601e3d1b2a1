"""Trace / TraceStep: what the student did in one episode, with the grade; versioned JSON on disk."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from srl_agent.errors import InputError
from srl_agent.grade_report import GradeReport

TRACE_SCHEMA = "srl-trace/2"
# Versions this code reads. srl-trace/2 added TraceStep.prompt and Trace.gold_patch (both optional, so a
# srl-trace/1 file reads as one without them).
READABLE_SCHEMAS = ("srl-trace/1", TRACE_SCHEMA)

# Why an episode ended. "expert" marks a trace made from an expert trajectory and "prediction" one made from a
# SWE-bench prediction (a patch without steps); the viewer renders them beside student episodes.
STOP_REASONS = ("submitted", "step_limit", "context_limit", "time_limit", "policy_error", "sandbox_error", "expert",
                "prediction", "interrupted")


@dataclass
class TraceStep:
    """One turn: the raw output, what it parsed into (or why it did not) and what the sandbox answered."""

    index: int
    raw_output: str
    think: str | None = None
    action: str | None = None          # canonical call text; None when the output was malformed
    tool: str | None = None
    format_error: str | None = None
    observation: str = ""
    exit_code: int | None = None
    timed_out: bool = False
    exec_seconds: float = 0.0
    gen_seconds: float = 0.0
    expert_action: str | None = None   # the expert's action at the same step index, when known
    reward: float | None = None        # step reward of this output against expert_action
    # The exact chat messages the policy was given for this step (srl-trace/2); None when not recorded.
    prompt: list[dict] | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TraceStep":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class Trace:
    """An episode of the student on one task (or a canonical trajectory rendered as one)."""

    instance_id: str
    steps: list[TraceStep] = field(default_factory=list)
    stop_reason: str = ""
    stop_detail: str = ""
    patch: str = ""
    grade: GradeReport | None = None   # the grade of the final patch; None if not graded (a dict is read as one)
    problem_statement: str = ""
    model: str = ""
    sample: int = 0
    wall_seconds: float = 0.0
    meta: dict = field(default_factory=dict)
    gold_patch: str | None = None      # the task's reference fix, when known (srl-trace/2)

    def __post_init__(self) -> None:
        if isinstance(self.grade, dict):  # a trace file (any version) or a caller's dict
            self.grade = GradeReport.from_dict(self.grade, instance_id=self.instance_id)

    @property
    def resolved(self) -> bool | None:
        return None if self.grade is None else self.grade.resolved

    @property
    def status(self) -> str:
        """One word for the viewer's filters: resolved / unresolved / error / ungraded."""
        if self.grade is None:
            return "ungraded"
        if self.grade.infra_error or self.grade.status == "ERROR":
            return "error"
        return "resolved" if self.grade.resolved else "unresolved"

    @property
    def format_errors(self) -> int:
        return sum(1 for s in self.steps if s.format_error is not None)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["steps"] = [s.to_dict() for s in self.steps]
        d["grade"] = None if self.grade is None else self.grade.to_dict()
        return {"schema": TRACE_SCHEMA, **d}

    @classmethod
    def from_dict(cls, d: dict) -> "Trace":
        schema = d.get("schema")
        if schema not in READABLE_SCHEMAS:
            raise InputError(f"not a trace (schema {schema!r}, expected one of {', '.join(READABLE_SCHEMAS)})")
        names = {f.name for f in fields(cls)} - {"steps"}
        kw = {k: v for k, v in d.items() if k in names}
        return cls(steps=[TraceStep.from_dict(s) for s in d.get("steps") or []], **kw)

    def write(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: str | Path) -> "Trace":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: cannot read trace ({exc})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: not a trace object")
        return cls.from_dict(data)


def write_json(path: str | Path, data) -> None:
    """Write atomically (temp file + rename), so an interrupted run never leaves half a file behind."""
    from srl_agent.runner import atomic_write

    atomic_write(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
