"""Grading: pure functions from a test log (and pytest's junit XML) to a SWE-bench-shaped report; `grade_patch`
grades a patch in a fresh container from the task image (srl_agent/grading_run.py), never the agent's own."""

from __future__ import annotations

import time
import warnings
import xml.etree.ElementTree as ET

from swebench.harness.constants import FAIL_TO_PASS, PASS_TO_PASS, ResolvedStatus
from swebench.harness.grading import get_eval_tests_report, get_resolution_status
from swebench.harness.log_parsers import PARSER_REGISTRY

from srl_agent.errors import InputError
from srl_agent.grade_report import GRADE_SCHEMA, GradeReport, Status  # noqa: F401  (re-exported)
from srl_agent.task import Task

_FROM_SWEBENCH = {ResolvedStatus.FULL.value: "FULL", ResolvedStatus.PARTIAL.value: "PARTIAL", ResolvedStatus.NO.value: "NO"}
# The order SWE-bench's harness tries; a failed try leaves partial state, so the tree is reset in between.
APPLY_COMMANDS = ("git apply --verbose", "git apply --verbose --reject", "patch --batch --forward --fuzz=5 -p1 -i")
PARSER_ALIASES = {"pytest": "parse_log_pytest", "pytest_options": "parse_log_pytest_options",
                  "pytest_v2": "parse_log_pytest_v2", "django": "parse_log_django"}
PASSING = ("PASSED", "XFAIL")


def parse_test_log(log: str, parser: str = "pytest") -> dict[str, str]:
    """Test id -> PASSED / FAILED / SKIPPED / ERROR / XFAIL, with swebench's parser of that name."""
    fn = PARSER_REGISTRY.get(PARSER_ALIASES.get(parser, parser))
    if fn is None:
        raise InputError(f"unknown log parser {parser!r}; known: {sorted(PARSER_ALIASES)} or swebench's "
                         f"{sorted(PARSER_REGISTRY)[:6]}...")
    return fn(log, None)


def _nodeid(case: ET.Element) -> str | None:
    """pytest's node id of a junit testcase (xunit1: `file` says where the module ends in `classname`)."""
    name, cls, path = case.get("name"), case.get("classname") or "", case.get("file")
    if not name:
        return None
    if not path:
        return f"{cls.replace('.', '/')}.py::{name}" if cls else name
    module = path[:-3].replace("/", ".") if path.endswith(".py") else path.replace("/", ".")
    inner = cls[len(module):].lstrip(".") if cls == module or cls.startswith(module + ".") else ""
    return "::".join([path, *([p for p in inner.split(".") if p]), name])


def parse_junit(xml: bytes | str | None) -> dict[str, str] | None:
    """Test id -> status from pytest's junit XML (xunit1), or None when there is none or it is not valid XML
    (the test process died before pytest wrote it)."""
    if not xml:
        return None
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    out: dict[str, str] = {}
    for case in root.iter("testcase"):
        nid = _nodeid(case)
        if nid is None:
            continue
        kids = {c.tag: c for c in case}
        if "failure" in kids or "error" in kids:
            status = "FAILED" if "failure" in kids else "ERROR"
        elif "skipped" in kids:
            status = "XFAIL" if (kids["skipped"].get("type") or "").endswith("xfail") else "SKIPPED"
        else:
            status = "PASSED"
        if out.get(nid) in ("FAILED", "ERROR"):
            continue  # a teardown error after a pass is recorded as a second entry: the failure stands
        out[nid] = status
    return out


def combine(log_map: dict[str, str], junit_map: dict[str, str], tests: list[str]) -> tuple[dict[str, str], list[str]]:
    """A test passes only when the log parser and the junit XML both say it passed; (status map for the
    task's tests, the tests they disagree on)."""
    status, disagree = {}, []
    for t in tests:
        a, b = log_map.get(t), junit_map.get(t)
        ok_a, ok_b = a in PASSING, b in PASSING
        if ok_a != ok_b:
            disagree.append(t)
        status[t] = (a if a in PASSING else "PASSED") if ok_a and ok_b else (a if a and not ok_a else "FAILED")
    return status, disagree


def grade_log(task: Task, log: str, *, exit_code: int | None = None, junit: bytes | str | None = None,
              use_junit: bool = False) -> GradeReport:
    """Grade a test log against the task's FAIL_TO_PASS / PASS_TO_PASS lists (no Docker involved). With
    `use_junit`, pytest's junit XML must agree: a test passes only when both channels say so, and no XML at all
    (a process that printed PASSED lines and exited) passes nothing."""
    status_map = parse_test_log(log, task.log_parser)
    disagreements: list[str] = []
    if use_junit:
        status_map, disagreements = combine(status_map, parse_junit(junit) or {}, task.fail_to_pass + task.pass_to_pass)
    tests = get_eval_tests_report(status_map, {FAIL_TO_PASS: task.fail_to_pass, PASS_TO_PASS: task.pass_to_pass})
    tests = {FAIL_TO_PASS: tests[FAIL_TO_PASS], PASS_TO_PASS: tests[PASS_TO_PASS]}
    if not task.fail_to_pass and not task.pass_to_pass:
        raise InputError(f"task {task.instance_id}: no FAIL_TO_PASS or PASS_TO_PASS tests to grade with")
    status = _FROM_SWEBENCH[get_resolution_status(tests)]
    return GradeReport(task.instance_id, status, patch_exists=True, patch_applied=True, tests_status=tests,
                       test_exit_code=exit_code, test_output=log, result_source="junit+log" if use_junit else "log",
                       disagreements=disagreements)


def error_report(task: Task, reason: str, **kw) -> GradeReport:
    return GradeReport(task.instance_id, "ERROR", infra_error=reason, **kw)


def grade_patch(task: Task, patch: str | None, sandbox=None, *, timeout: float = 900.0, pool=None,
                **sandbox_kwargs) -> GradeReport:
    """Grade `patch` for `task` in a fresh, never-used container from the task image (taken from `pool`, by
    default the process's shared pool of pre-started ones); never raises for infrastructure failures.

    `sandbox` is accepted for old callers and ignored: nothing in the container the agent used is trusted."""
    if sandbox is not None:
        warnings.warn("grade_patch(sandbox=...) is ignored: patches are graded in a fresh container",
                      DeprecationWarning, stacklevel=2)
    from srl_agent.grading_run import grade_fresh  # imports the sandbox and tasks packages

    return grade_fresh(task, patch, timeout=timeout, pool=pool, **sandbox_kwargs)
