"""Task: a repository at a known state, an issue text and the tests that decide resolution (SWE-bench shaped)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from srl_agent.errors import InputError

TASK_SCHEMA = "srl-task/1"


def _str_list(value, name: str) -> list[str]:
    """SWE-bench stores test lists as JSON strings; SWE-Gym and our suites as lists. Accept both."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError as exc:
            raise InputError(f"field {name!r}: not a JSON list ({exc.msg})") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"field {name!r}: expected a list of test names")
    return list(value)


@dataclass
class Task:
    instance_id: str
    repo: str = ""
    base_commit: str = ""
    problem_statement: str = ""
    image: str | None = None
    fail_to_pass: list[str] = field(default_factory=list)
    pass_to_pass: list[str] = field(default_factory=list)
    test_command: str = "python -m pytest -rA -p no:cacheprovider"
    log_parser: str = "pytest"
    eval_script: str | None = None  # a SWE-bench 5.x row's own eval script, kept as given
    eval_type: str = "pass_and_fail"
    workdir: str = "/testbed"
    version: str | None = None
    gold_patch: str | None = None
    test_patch: str | None = None
    suite: str | None = None
    split: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict, dataset: str | None = None) -> "Task":
        """Load our own task record, or a published row as it is: SWE-bench (5.x instances with image /
        eval_script / log_parser / eval_type, or the classic schema), SWE-Gym or SWE-smith (upper-case test
        fields, JSON-string lists). `dataset` (swe-bench | swe-gym | swe-smith) picks the dataset's conventions
        when the row cannot tell (SWE-Gym rows look like SWE-bench's); see srl_agent/task_rows.py."""
        if not isinstance(row, dict):
            raise InputError("task record is not an object")
        iid = row.get("instance_id")
        if not isinstance(iid, str) or not iid:
            raise InputError("field 'instance_id': missing or not a string")
        known = {f for f in cls.__dataclass_fields__}
        if dataset is None and (row.get("schema") == TASK_SCHEMA or "fail_to_pass" in row):
            kw = {k: v for k, v in row.items() if k in known and k not in ("fail_to_pass", "pass_to_pass", "extra")}
            extra = dict(row.get("extra") or {})
            extra.update({k: v for k, v in row.items() if k not in known and k != "schema"})
            f2p, p2p = row.get("fail_to_pass"), row.get("pass_to_pass")
        else:
            from srl_agent.task_rows import published_fields  # the tasks package imports this module

            kw, extra = published_fields(row, dataset, known)
            f2p = row.get("FAIL_TO_PASS", row.get("fail_to_pass"))
            p2p = row.get("PASS_TO_PASS", row.get("pass_to_pass"))
        if kw.get("version") is not None:
            kw["version"] = str(kw["version"])
        return cls(fail_to_pass=_str_list(f2p, "FAIL_TO_PASS"), pass_to_pass=_str_list(p2p, "PASS_TO_PASS"),
                   extra=extra, **kw)

    def to_dict(self) -> dict:
        return {"schema": TASK_SCHEMA, **asdict(self)}
