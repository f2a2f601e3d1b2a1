"""Grading: pure functions from a test log to a SWE-bench-shaped report, plus applying a patch and testing it in a sandbox."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Literal

from swebench.harness.constants import FAIL_TO_PASS, PASS_TO_PASS, ResolvedStatus
from swebench.harness.grading import get_eval_tests_report, get_resolution_status
from swebench.harness.log_parsers import PARSER_REGISTRY

from srl_agent.errors import DockerUnavailableError, ImageBuildError, InputError, SandboxError
from srl_agent.task import Task

GRADE_SCHEMA = "srl-grade/1"
Status = Literal["FULL", "PARTIAL", "NO", "ERROR"]
_FROM_SWEBENCH = {ResolvedStatus.FULL.value: "FULL", ResolvedStatus.PARTIAL.value: "PARTIAL", ResolvedStatus.NO.value: "NO"}
# The order SWE-bench's harness tries; a failed try leaves partial state, so the tree is reset in between.
APPLY_COMMANDS = ("git apply --verbose", "git apply --verbose --reject", "patch --batch --forward --fuzz=5 -p1 -i")
PARSER_ALIASES = {"pytest": "parse_log_pytest", "pytest_options": "parse_log_pytest_options",
                  "pytest_v2": "parse_log_pytest_v2", "django": "parse_log_django"}
PATCH_PATH = "/tmp/srl_grade.patch"
LOG_PATH = "/tmp/srl_grade_test.log"


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

    @property
    def resolved(self) -> bool:
        return self.status == "FULL"

    def to_dict(self, *, include_output: bool = False) -> dict:
        d = {"schema": GRADE_SCHEMA, **asdict(self), "resolved": self.resolved}
        if not include_output:
            d.pop("test_output")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "GradeReport":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_swebench(self) -> dict:
        """The per-instance entry of a SWE-bench report.json."""
        return {"patch_is_None": False, "patch_exists": self.patch_exists,
                "patch_successfully_applied": self.patch_applied, "resolved": self.resolved,
                "infra_failure": self.status == "ERROR", "tests_status": self.tests_status}


def parse_test_log(log: str, parser: str = "pytest") -> dict[str, str]:
    """Test id -> PASSED / FAILED / SKIPPED / ERROR / XFAIL, with swebench's parser of that name."""
    fn = PARSER_REGISTRY.get(PARSER_ALIASES.get(parser, parser))
    if fn is None:
        raise InputError(f"unknown log parser {parser!r}; known: {sorted(PARSER_ALIASES)} or swebench's "
                         f"{sorted(PARSER_REGISTRY)[:6]}...")
    return fn(log, None)


def grade_log(task: Task, log: str, *, exit_code: int | None = None) -> GradeReport:
    """Grade a test log against the task's FAIL_TO_PASS / PASS_TO_PASS lists (no Docker involved)."""
    status_map = parse_test_log(log, task.log_parser)
    tests = get_eval_tests_report(status_map, {FAIL_TO_PASS: task.fail_to_pass, PASS_TO_PASS: task.pass_to_pass})
    tests = {FAIL_TO_PASS: tests[FAIL_TO_PASS], PASS_TO_PASS: tests[PASS_TO_PASS]}
    if not task.fail_to_pass and not task.pass_to_pass:
        raise InputError(f"task {task.instance_id}: no FAIL_TO_PASS or PASS_TO_PASS tests to grade with")
    status = _FROM_SWEBENCH[get_resolution_status(tests)]
    return GradeReport(task.instance_id, status, patch_exists=True, patch_applied=True, tests_status=tests,
                       test_exit_code=exit_code, test_output=log)


def error_report(task: Task, reason: str, **kw) -> GradeReport:
    return GradeReport(task.instance_id, "ERROR", infra_error=reason, **kw)


def _test_files(task: Task) -> list[str]:
    return sorted({t.split("::")[0] for t in task.fail_to_pass + task.pass_to_pass if "::" in t})


def _alive_or_raise(sb, what: str, obs) -> None:
    if obs.restarted or (obs.exit_code is None and not obs.timed_out):
        raise SandboxError(f"the container's shell died while {what}")


def _apply(sb, task: Task, patch: str) -> tuple[str | None, str]:
    """Try each apply command on a reset tree; (command that worked or None, last error output)."""
    sb.write_file(PATCH_PATH, patch if patch.endswith("\n") else patch + "\n")
    last = ""
    for i, cmd in enumerate(APPLY_COMMANDS):
        if i:
            sb.reset()
            sb.write_file(PATCH_PATH, patch if patch.endswith("\n") else patch + "\n")
        obs = sb.run(f"cd {task.workdir} && {cmd} {PATCH_PATH}", timeout=120)
        _alive_or_raise(sb, "applying the patch", obs)
        if obs.exit_code == 0:
            # leftovers of the fallbacks must not show up as part of the graded tree
            sb.run(f"cd {task.workdir} && rm -f {PATCH_PATH} $(git ls-files --others --exclude-standard '*.rej' '*.orig')",
                   timeout=30)
            return cmd, ""
        last = obs.output[-2000:]
    sb.reset()
    return None, last


def grade_in_sandbox(sb, task: Task, patch: str | None, *, timeout: float = 900.0, reset: bool = True) -> GradeReport:
    """Reset `sb` to the task's start state, apply `patch`, restore the test files, run the tests, grade the log.

    reset=False only for a sandbox that was just checkpointed at the start state (nothing to undo)."""
    t0 = time.perf_counter()
    try:
        if reset:
            sb.reset()
        applied = None
        if patch and patch.strip():
            applied, err = _apply(sb, task, patch)
            if applied is None:
                return GradeReport(task.instance_id, "NO", patch_exists=True, patch_applied=False,
                                   apply_error=err or "the patch does not apply", duration=time.perf_counter() - t0)
        files = _test_files(task)
        if files:  # SWE-bench applies the test patch last, so a prediction cannot change the tests that grade it
            quoted = " ".join(f"'{f}'" for f in files)
            sb.run(f"cd {task.workdir} && git checkout HEAD -- {quoted} 2>/dev/null", timeout=60)
        if task.test_patch:
            sb.write_file("/tmp/srl_test.patch", task.test_patch)
            obs = sb.run(f"cd {task.workdir} && git apply --verbose /tmp/srl_test.patch", timeout=120)
            _alive_or_raise(sb, "applying the test patch", obs)
            if obs.exit_code != 0:
                return error_report(task, f"the task's test patch does not apply: {obs.output[-500:]}",
                                    patch_exists=bool(applied), patch_applied=bool(applied))
        obs = sb.run(f"cd {task.workdir} && {task.test_command} > {LOG_PATH} 2>&1; echo SRL_TEST_EXIT=$?",
                     timeout=timeout)
        if obs.timed_out:
            return error_report(task, f"the test run timed out after {timeout:.0f}s", patch_exists=bool(applied),
                                patch_applied=bool(applied), duration=time.perf_counter() - t0)
        _alive_or_raise(sb, "running the tests", obs)
        code = None
        for line in obs.output.splitlines():
            if line.startswith("SRL_TEST_EXIT="):
                code = int(line.split("=", 1)[1])
        if code is None:
            raise SandboxError(f"the test command ended without reporting its exit status: {obs.output[-300:]}")
        log = sb.read_file(LOG_PATH)
    except SandboxError as exc:
        return error_report(task, f"{type(exc).__name__}: {exc}", patch_exists=bool(patch and patch.strip()),
                            duration=time.perf_counter() - t0)
    report = grade_log(task, log, exit_code=code)
    report.patch_exists = bool(applied)
    report.patch_applied = bool(applied)
    report.apply_command = applied
    report.duration = time.perf_counter() - t0
    return report


def grade_patch(task: Task, patch: str | None, sandbox=None, *, timeout: float = 900.0, **sandbox_kwargs) -> GradeReport:
    """Grade `patch` for `task` in `sandbox` (reset first) or in a fresh task sandbox; never raises for infra failures."""
    if sandbox is not None:
        return grade_in_sandbox(sandbox, task, patch, timeout=timeout)
    from srl_agent.tasks import task_sandbox  # the tasks package imports this module

    try:
        with task_sandbox(task, **sandbox_kwargs) as sb:
            return grade_in_sandbox(sb, task, patch, timeout=timeout, reset=False)
    except (SandboxError, ImageBuildError, DockerUnavailableError, OSError) as exc:  # OSError: sdist fetch
        return error_report(task, f"could not start the task's sandbox: {exc}", patch_exists=bool(patch and patch.strip()))
