"""Grading: log parsing and resolution status without Docker; patches graded in real containers."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest

from srl_agent.errors import InputError
from srl_agent.grading import GradeReport, grade_log, parse_test_log
from srl_agent.grading_batch import Prediction, read_predictions, run_report
from srl_agent.task import Task

LOG = """\
============================= test session starts ==============================
collected 4 items

tests/test_a.py ..F.                                                     [100%]

=========================== short test summary info ============================
PASSED tests/test_a.py::test_one
PASSED tests/test_a.py::test_two[1-2]
FAILED tests/test_a.py::test_three - AssertionError: assert 1 == 2
PASSED tests/test_a.py::TestK::test_four
SKIPPED [1] tests/test_a.py:40: no network
========================= 1 failed, 3 passed in 0.05s =========================
"""


def _task(f2p, p2p) -> Task:
    return Task(instance_id="t1", fail_to_pass=f2p, pass_to_pass=p2p)


def test_parse_uses_swebench_pytest_parser_and_names():
    """Statuses are swebench's names, so reports mean the same as SWE-bench's."""
    sm = parse_test_log(LOG)
    assert sm["tests/test_a.py::test_one"] == "PASSED"
    assert sm["tests/test_a.py::test_three"] == "FAILED"
    assert sm["tests/test_a.py::test_two[1-2]"] == "PASSED"
    assert sm["tests/test_a.py::TestK::test_four"] == "PASSED"
    assert not any(k.startswith("[") for k in sm)  # the "SKIPPED [1]" summary line is not a test
    assert parse_test_log(LOG, "parse_log_pytest") == sm


def test_unknown_parser_is_a_user_error():
    with pytest.raises(InputError, match="unknown log parser"):
        parse_test_log(LOG, "nope")


def test_full_when_every_f2p_and_p2p_passes():
    r = grade_log(_task(["tests/test_a.py::test_one"], ["tests/test_a.py::test_two[1-2]"]), LOG)
    assert r.status == "FULL" and r.resolved
    assert r.tests_status["FAIL_TO_PASS"]["success"] == ["tests/test_a.py::test_one"]


def test_partial_when_some_f2p_still_fail():
    r = grade_log(_task(["tests/test_a.py::test_one", "tests/test_a.py::test_three"], ["tests/test_a.py::test_two[1-2]"]), LOG)
    assert r.status == "PARTIAL" and not r.resolved


def test_no_when_a_p2p_test_breaks():
    r = grade_log(_task(["tests/test_a.py::test_one"], ["tests/test_a.py::test_three"]), LOG)
    assert r.status == "NO"


def test_missing_test_counts_as_failed():
    """A test that did not run (e.g. the module no longer imports) is not a pass."""
    r = grade_log(_task(["tests/test_a.py::test_gone"], []), LOG)
    assert r.status == "NO"
    assert r.tests_status["FAIL_TO_PASS"]["failure"] == ["tests/test_a.py::test_gone"]


def test_empty_log_is_not_resolved():
    assert grade_log(_task(["tests/test_a.py::test_one"], []), "").status == "NO"


def test_report_round_trip_and_swebench_shape():
    r = grade_log(_task(["tests/test_a.py::test_one"], []), LOG)
    d = r.to_dict()
    assert d["schema"] == "srl-grade/1" and d["resolved"] is True and "test_output" not in d
    assert GradeReport.from_dict(json.loads(json.dumps(d))).status == "FULL"
    sw = r.to_swebench()
    assert sw["resolved"] and sw["patch_successfully_applied"] and not sw["infra_failure"]


def test_predictions_json_and_jsonl(tmp_path):
    rows = [{"instance_id": "a", "model_name_or_path": "m", "model_patch": "diff"},
            {"instance_id": "b", "model_name_or_path": "m", "model_patch": None}]
    (tmp_path / "p.json").write_text(json.dumps(rows))
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    assert read_predictions(tmp_path / "p.json") == read_predictions(tmp_path / "p.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"model_patch": ""}\n')
    with pytest.raises(InputError, match="instance_id"):
        read_predictions(tmp_path / "bad.jsonl")


def test_run_report_counts_errors_apart_from_unresolved():
    """An infrastructure failure must never be counted as a plain unresolved instance."""
    tasks = [Task(instance_id=i) for i in "abc"]
    preds = [Prediction("a", "m", "x"), Prediction("b", "m", "x"), Prediction("c", "m", "")]
    reps = {"a": GradeReport("a", "FULL", True, True), "b": GradeReport("b", "ERROR", infra_error="container died"),
            "c": GradeReport("c", "NO")}
    rep = run_report(tasks, preds, reps)
    assert rep["resolved_ids"] == ["a"] and rep["error_ids"] == ["b"] and rep["empty_patch_ids"] == ["c"]
    assert "b" not in rep["unresolved_ids"] and rep["failure_reasons"]["b"] == "container died"


# --- in containers -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def a_task(base_image):
    from srl_agent.tasks import load_suite

    tasks = [t for t in load_suite("pypi-mutants") if t.extra.get("package") == "inflection"]
    return tasks[0]


@pytest.mark.docker
def test_gold_resolves_empty_and_noop_do_not(a_task):
    from srl_agent.grading import grade_patch

    noop = "diff --git a/NOTES.txt b/NOTES.txt\nnew file mode 100644\n--- /dev/null\n+++ b/NOTES.txt\n@@ -0,0 +1 @@\n+hi\n"
    gold = grade_patch(a_task, a_task.gold_patch)
    empty = grade_patch(a_task, "")
    wrong = grade_patch(a_task, noop)
    assert gold.status == "FULL" and gold.result_source == "junit+log" and not gold.disagreements, gold.to_dict()
    assert empty.status == "NO" and not empty.patch_exists
    assert wrong.status in ("PARTIAL", "NO") and wrong.patch_applied


@pytest.mark.docker
def test_patch_that_does_not_apply_is_reported_as_such(a_task):
    from srl_agent.grading import grade_patch

    bad = "diff --git a/nope.py b/nope.py\n--- a/nope.py\n+++ b/nope.py\n@@ -1,1 +1,1 @@\n-x = 1\n+x = 2\n"
    r = grade_patch(a_task, bad)
    assert r.status == "NO" and r.patch_exists and not r.patch_applied and r.apply_error
    assert r.infra_error is None


@pytest.mark.docker
def test_patch_cannot_change_the_tests_that_grade_it(a_task):
    """SWE-bench restores the test files after the prediction; here the edit is dropped, and the report says so."""
    from srl_agent.grading import grade_patch
    from srl_agent.tasks import task_sandbox

    test_file = a_task.fail_to_pass[0].split("::")[0]
    with task_sandbox(a_task) as sb:
        sb.run(f"printf 'def test_nothing():\\n    pass\\n' > {test_file}")
        cheat = sb.diff()
    r = grade_patch(a_task, cheat)
    assert r.status == "NO" and {"path": test_file, "reason": "a test file of the task"} in r.dropped


@pytest.mark.docker
def test_container_killed_mid_grading_is_an_infrastructure_error(a_task):
    """A dead container is the environment's failure: status ERROR with infra_error, never a plain NO."""
    from dataclasses import replace

    from srl_agent.grading import grade_patch
    from srl_agent.sandbox.pool import checkpointed_sandbox

    class KillingPool:  # hands out a fresh container and kills it 3 s later, mid-test-run
        def take(self, image, **kw):
            sb = checkpointed_sandbox(image, **kw)
            threading.Timer(3.0, lambda: subprocess.run(["docker", "kill", sb.container_id],
                                                        capture_output=True)).start()
            return sb

    slow = replace(a_task, test_command="sleep 20; " + a_task.test_command)
    t0 = time.monotonic()
    r = grade_patch(slow, slow.gold_patch, pool=KillingPool())
    assert r.status == "ERROR" and r.infra_error and not r.resolved, r.to_dict()
    assert time.monotonic() - t0 < 60


@pytest.mark.docker
def test_whole_run_timeout_is_an_infrastructure_error(a_task):
    from dataclasses import replace

    from srl_agent.grading import grade_patch

    slow = replace(a_task, test_command="sleep 30")
    r = grade_patch(slow, slow.gold_patch, timeout=2)
    assert r.status == "ERROR" and "timed out" in r.infra_error


@pytest.mark.docker
def test_srl_grade_writes_a_swebench_report_and_resumes(a_task, tmp_path, capsys):
    """`srl grade` end to end; a second run finds every instance graded and grades nothing again."""
    from srl_agent.cli import main
    from srl_agent.tasks import load_suite

    other = next(t for t in load_suite("pypi-mutants") if t.instance_id != a_task.instance_id)
    preds = tmp_path / "preds.jsonl"
    preds.write_text("\n".join(json.dumps(p) for p in [
        {"instance_id": a_task.instance_id, "model_name_or_path": "gold", "model_patch": a_task.gold_patch},
        {"instance_id": other.instance_id, "model_name_or_path": "gold", "model_patch": ""}]))
    out = tmp_path / "report.json"
    assert main(["grade", str(preds), "--tasks", "pypi-mutants", "-o", str(out), "-q"]) == 0
    rep = json.loads(out.read_text())
    assert rep["resolved_ids"] == [a_task.instance_id] and rep["empty_patch_ids"] == [other.instance_id]
    logs = tmp_path / "report_logs" / "gold" / a_task.instance_id
    assert (logs / "report.json").is_file() and "PASSED" in (logs / "test_output.txt").read_text()
    stamp = (logs / "report.json").stat().st_mtime
    assert main(["grade", str(preds), "--tasks", "pypi-mutants", "-o", str(out), "-q"]) == 0
    assert (logs / "report.json").stat().st_mtime == stamp


@pytest.mark.docker
def test_ctrl_c_stops_grade_writes_the_report_of_what_finished_and_a_rerun_resumes(docker_engine, tmp_path,
                                                                                   interrupt_srl):
    """Issue 16: a first SIGINT used to grade the whole queue and then exit without the report."""
    from srl_agent.tasks import load_suite

    tasks = [t for t in load_suite("pypi-mutants") if t.gold_patch][:5]
    preds = tmp_path / "preds.jsonl"
    preds.write_text("\n".join(json.dumps({"instance_id": t.instance_id, "model_name_or_path": "gold",
                                           "model_patch": t.gold_patch}) for t in tasks))
    out, logs = tmp_path / "report.json", tmp_path / "report_logs"
    argv = ["grade", str(preds), "--tasks", "pypi-mutants", "-o", str(out), "--workers", "1", "-q"]
    got = interrupt_srl(argv, lambda: any(logs.rglob("report.json")))
    assert got.rc == 130, got.stderr
    assert "rerun the same command to resume" in got.stderr and "Traceback" not in got.stderr
    rep = json.loads(out.read_text())
    graded = list(logs.rglob("report.json"))
    assert 1 <= rep["completed_instances"] == len(graded) < len(tasks), "stopped early, the report counts what finished"
    assert len(rep["incomplete_ids"]) == len(tasks) - len(graded) and rep["resolved_instances"] == len(graded)
    stamps = {p: p.stat().st_mtime_ns for p in graded}
    from srl_agent.cli import main

    assert main(argv) == 0
    rep = json.loads(out.read_text())
    assert rep["resolved_instances"] == len(tasks) and rep["incomplete_ids"] == []
    assert all(p.stat().st_mtime_ns == m for p, m in stamps.items()), "finished grades are not run again"


@pytest.mark.parametrize("f2p_ok,f2p_bad,p2p_bad,status", [(2, 0, 0, "FULL"), (1, 1, 0, "PARTIAL"), (0, 2, 0, "NO"),
                                                           (2, 0, 1, "NO")])
def test_swebench_entry_round_trips_with_the_same_keys_and_status(f2p_ok, f2p_bad, p2p_bad, status):
    """GradeReport speaks SWE-bench's per-instance report entry: same keys out, same grade back in."""
    from swebench.harness.grading import get_resolution_status

    tests = {"FAIL_TO_PASS": {"success": [f"ok{i}" for i in range(f2p_ok)], "failure": [f"bad{i}" for i in range(f2p_bad)]},
             "PASS_TO_PASS": {"success": ["p"], "failure": [f"pb{i}" for i in range(p2p_bad)]},
             "FAIL_TO_FAIL": {"success": [], "failure": []}, "PASS_TO_FAIL": {"success": [], "failure": []}}
    assert get_resolution_status(tests) == {"FULL": "RESOLVED_FULL", "PARTIAL": "RESOLVED_PARTIAL",
                                            "NO": "RESOLVED_NO"}[status], "our rule is SWE-bench's"
    entry = {"patch_is_None": False, "patch_exists": True, "patch_successfully_applied": True,
             "resolved": status == "FULL", "infra_failure": False, "tests_status": tests}
    rep = GradeReport.from_swebench("t1", entry)
    assert rep.status == status and rep.to_swebench() == entry
    assert GradeReport.from_dict(json.loads(json.dumps(rep.to_dict()))) == rep
