"""GradeReport: the grade of one patch for one task, the record that crosses grading -> eval -> traces -> viewer.

A plain dataclass with no grading machinery (srl_agent.grading computes it), so traces and reports can hold it
without importing swebench. `to_swebench()` / `from_swebench()` speak the per-instance entry of SWE-bench's
report.json (same keys); `to_dict()` / `from_dict()` are ours (schema srl-grade/1) and read the older shapes too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

GRADE_SCHEMA = "srl-grade/1"
Status = Literal["FULL", "PARTIAL", "NO", "ERROR"]
STATUSES = ("FULL", "PARTIAL", "NO", "ERROR")
F2P, P2P = "FAIL_TO_PASS", "PASS_TO_PASS"


@dataclass
class GradeReport:
    """The grade of one patch for one task; `status` ERROR means the infrastructure failed (see infra_error)."""
    instance_id: str
    status: Status
    patch_exists: bool = False
    patch_applied: bool = False
    apply_command: str | None = None
    apply_error: str | None = None
    infra_error: str | None = None
    tests_status: dict = field(default_factory=dict)  # swebench shape: {FAIL_TO_PASS: {success, failure}, ...}
    test_exit_code: int | None = None
    duration: float = 0.0
    test_output: str = ""
    dropped: list = field(default_factory=list)  # [{path, reason}]: the patch's changes the grader did not apply
    # "log"; "junit+log": pytest's junit XML and the log parser agreed on every test; "record": an imported
    # trajectory's own resolved flag, not graded here
    result_source: str = "log"
    disagreements: list = field(default_factory=list)  # tests the two channels disagree on (counted as failed)

    @property
    def resolved(self) -> bool:
        return self.status == "FULL"

    @classmethod
    def infrastructure_error(cls, instance_id: str, why: str) -> "GradeReport":
        """The grade of an episode whose environment failed: nothing could be graded (retried on resume)."""
        return cls(instance_id, "ERROR", infra_error=why)

    def to_dict(self, *, include_output: bool = False) -> dict:
        d = {"schema": GRADE_SCHEMA, **asdict(self), "resolved": self.resolved}
        if not include_output:
            d.pop("test_output")
        return d

    @classmethod
    def from_dict(cls, d: dict, *, instance_id: str | None = None) -> "GradeReport":
        """Our JSON, also as older traces wrote it: the agent's ERROR grade had `tests` for `tests_status` and
        no instance_id; an expert trace's grade only status/resolved."""
        known = set(cls.__dataclass_fields__)
        kw = {k: v for k, v in d.items() if k in known}
        if "tests" in d and "tests_status" not in d:
            kw["tests_status"] = d["tests"] or {}
        kw.setdefault("instance_id", instance_id or "")
        if kw.get("status") not in STATUSES:
            kw["status"] = "FULL" if d.get("resolved") else ("ERROR" if d.get("infra_error") else "NO")
        return cls(**kw)

    def to_swebench(self) -> dict:
        """The per-instance entry of a SWE-bench report.json."""
        return {"patch_is_None": False, "patch_exists": self.patch_exists,
                "patch_successfully_applied": self.patch_applied, "resolved": self.resolved,
                "infra_failure": self.status == "ERROR", "tests_status": self.tests_status}

    @classmethod
    def from_swebench(cls, instance_id: str, entry: dict) -> "GradeReport":
        """Read a per-instance entry of SWE-bench's report.json (status by SWE-bench's rule on tests_status)."""
        tests = entry.get("tests_status") or {}
        status: Status = "ERROR" if entry.get("infra_failure") else ("FULL" if entry.get("resolved") else
                                                                    _swebench_status(tests))
        return cls(instance_id, status, patch_exists=bool(entry.get("patch_exists")),
                   patch_applied=bool(entry.get("patch_successfully_applied")), tests_status=tests)


def _swebench_status(tests: dict) -> Status:
    """SWE-bench's resolution rule: every PASS_TO_PASS passes, and all (FULL), some (PARTIAL) or no (NO) F2P."""
    def rate(key: str) -> float:
        ok, bad = len((tests.get(key) or {}).get("success") or []), len((tests.get(key) or {}).get("failure") or [])
        return 1.0 if ok + bad == 0 else ok / (ok + bad)

    f2p, p2p = rate(F2P), rate(P2P)
    if p2p == 1 and f2p == 1:
        return "FULL"
    return "PARTIAL" if p2p == 1 and 0 < f2p < 1 else "NO"
