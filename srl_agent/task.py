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
    workdir: str = "/testbed"
    version: str | None = None
    gold_patch: str | None = None
    test_patch: str | None = None
    suite: str | None = None
    split: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict) -> "Task":
        """Load a SWE-bench / SWE-Gym row as it is (upper-case test fields, JSON-string lists) or our own dict."""
        if not isinstance(row, dict):
            raise InputError("task record is not an object")
        iid = row.get("instance_id")
        if not isinstance(iid, str) or not iid:
            raise InputError("field 'instance_id': missing or not a string")
        f2p = row.get("fail_to_pass", row.get("FAIL_TO_PASS"))
        p2p = row.get("pass_to_pass", row.get("PASS_TO_PASS"))
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in row.items() if k in known and k not in ("fail_to_pass", "pass_to_pass", "extra")}
        if "gold_patch" not in kw and isinstance(row.get("patch"), str):
            kw["gold_patch"] = row["patch"]
        if "image" not in kw and isinstance(row.get("image_name"), str):
            kw["image"] = row["image_name"]
        if kw.get("version") is not None:
            kw["version"] = str(kw["version"])
        extra = dict(row.get("extra") or {})
        extra.update({k: v for k, v in row.items()
                      if k not in known and k not in ("FAIL_TO_PASS", "PASS_TO_PASS", "patch", "image_name", "schema")})
        return cls(fail_to_pass=_str_list(f2p, "FAIL_TO_PASS"), pass_to_pass=_str_list(p2p, "PASS_TO_PASS"),
                   extra=extra, **kw)

    def to_dict(self) -> dict:
        return {"schema": TASK_SCHEMA, **asdict(self)}
