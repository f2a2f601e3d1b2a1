"""swebench's own harness and `srl grade` agree: the bundled suite exported as swebench 5.x instances, the same
predictions (gold, empty, a wrong patch that applies, a patch that does not apply) for tasks of every bundled
package, graded by swebench's run_evaluation (offline, its own containers) and by the project; same verdict each.
"""

from __future__ import annotations

import json

import pytest
from swebench.harness.utils import make_test_spec

from srl_agent.grading_batch import Prediction, grade_predictions, grade_with_swebench, run_report
from srl_agent.task import Task
from srl_agent.tasks import load_suite
from srl_agent.tasks.suite import load_recipe
from srl_agent.tasks.validate import sample_per_package

PER_PACKAGE = 2


def wrong_patch(task: Task) -> str:
    """A patch that applies and leaves the bug in place: a comment after the lines the bug changed (their
    start-state text is the bug patch's new side)."""
    from unidiff import PatchSet

    pf = PatchSet(task.extra["bug_patch"])[0]
    hunk = pf[0]
    lines = [ln.value for ln in hunk if not ln.is_removed]
    body = "".join(" " + v for v in lines) + "+# not a fix\n"
    return (f"diff --git a/{pf.path} b/{pf.path}\n--- a/{pf.path}\n+++ b/{pf.path}\n"
            f"@@ -{hunk.target_start},{len(lines)} +{hunk.target_start},{len(lines) + 1} @@\n{body}")


def broken_patch(task: Task) -> str:
    """A patch whose context is not in the file: it does not apply."""
    path = task.extra["mutation"]["path"]
    return (f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1,2 +1,2 @@\n-no such line here\n"
            f"+nor here\n context that is not there\n")


KINDS = {"gold": lambda t: t.gold_patch, "empty": lambda t: "", "wrong": wrong_patch, "broken": broken_patch}


@pytest.fixture(scope="module")
def tasks(request) -> list[Task]:
    request.getfixturevalue("base_image")
    picked = sample_per_package(load_suite("pypi-mutants"), PER_PACKAGE, seed=3)
    assert {t.extra["package"] for t in picked} == {p.name for p in load_recipe("pypi-mutants").packages}
    return picked


@pytest.mark.docker
@pytest.mark.slow
def test_swebench_harness_and_srl_grade_agree_on_every_prediction(tasks, tmp_path):
    verdicts: dict[tuple[str, str], tuple[bool, bool]] = {}
    for kind, make in KINDS.items():
        preds = [Prediction(t.instance_id, kind, make(t)) for t in tasks]
        ours = grade_predictions(preds, tasks, tmp_path / kind / "srl", workers=2, progress=False)
        theirs = grade_with_swebench(preds, tasks, tmp_path / kind / "swebench", workers=2)
        for t in tasks:
            verdicts[(kind, t.instance_id)] = (ours[t.instance_id].resolved, theirs[t.instance_id].resolved)
            assert ours[t.instance_id].status != "ERROR" and theirs[t.instance_id].status != "ERROR", (
                kind, t.instance_id, ours[t.instance_id].infra_error, theirs[t.instance_id].infra_error)
        assert run_report(tasks, preds, theirs)["resolved_ids"] == run_report(tasks, preds, ours)["resolved_ids"]
    disagree = {k: v for k, v in verdicts.items() if v[0] != v[1]}
    assert not disagree, disagree
    assert all(verdicts[("gold", t.instance_id)] == (True, True) for t in tasks)
    assert not any(verdicts[(k, t.instance_id)][1] for k in ("empty", "wrong", "broken") for t in tasks)
    # swebench ran every non-empty prediction itself: its per-instance reports are there
    for t in tasks:
        report = (tmp_path / "gold" / "swebench" / "swebench" / "logs" / "run_evaluation" / "srl" / "gold"
                  / t.instance_id / "report.json")
        assert json.loads(report.read_text())[t.instance_id]["resolved"] is True


@pytest.mark.docker
def test_srl_tasks_export_writes_instances_swebench_reads(tasks, tmp_path, capsys):
    from srl_agent.cli import main

    ids = ",".join(t.instance_id for t in tasks[:2])
    assert main(["tasks", "export", "pypi-mutants", "--instance-ids", ids, "-o", str(tmp_path / "i.jsonl")]) == 0
    assert "wrote 2 swebench instances" in capsys.readouterr().out
    rows = [json.loads(line) for line in (tmp_path / "i.jsonl").read_text().splitlines()]
    for row, t in zip(rows, tasks[:2]):
        spec = make_test_spec(row)
        assert spec.instance_id == t.instance_id and spec.FAIL_TO_PASS == t.fail_to_pass
        assert spec.log_parser == "parse_log_pytest" and spec.eval_type == "pass_and_fail"
        assert row["patch"] == t.gold_patch and t.test_command in spec.eval_script


@pytest.mark.docker
def test_exported_instances_load_back_as_published_rows_and_grade_the_same(tasks, tmp_path):
    """The instance file is a published 5.x dataset like any other: loaded back, its rows keep their eval script
    and start-state image, and the project's own grader gives gold FULL and the empty patch NO on them."""
    from srl_agent.grading import grade_patch
    from srl_agent.tasks import resolve_image
    from srl_agent.tasks.rows import load_tasks
    from srl_agent.tasks.swebench import export_instances

    picked = tasks[:2]
    export_instances(picked, tmp_path / "instances.jsonl")
    rows = load_tasks(tmp_path / "instances.jsonl")
    for row_task, t in zip(rows, picked):
        assert row_task.extra["dataset"] == "swe-bench" and row_task.eval_script and row_task.suite is None
        assert row_task.image == resolve_image(t) and row_task.gold_patch == t.gold_patch
        assert grade_patch(row_task, row_task.gold_patch).status == "FULL"
        assert grade_patch(row_task, "").status == "NO"


@pytest.mark.docker
def test_srl_grade_judge_swebench_writes_the_run_report(tasks, tmp_path, capsys):
    from srl_agent.cli import main

    t = tasks[0]
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"instance_id": t.instance_id, "model_name_or_path": "gold",
                                 "model_patch": t.gold_patch}) + "\n")
    out = tmp_path / "report.json"
    assert main(["grade", str(preds), "--tasks", "pypi-mutants", "--judge", "swebench", "-o", str(out), "-q"]) == 0
    report = json.loads(out.read_text())
    assert report["resolved_ids"] == [t.instance_id] and report["error_ids"] == []
    assert "resolved 1/1" in capsys.readouterr().out
    logs = tmp_path / "report_logs"
    assert (logs / "gold" / t.instance_id / "report.json").is_file()  # our layout
    assert (logs / "swebench" / "logs" / "run_evaluation" / "srl" / "gold" / t.instance_id / "report.json").is_file()


@pytest.mark.docker
def test_a_bug_layer_is_the_start_state_with_no_trace_of_the_fix(tasks):
    """build_bug_layer (SWE-smith rows' start state): the bug is in the tree and committed, the clean commit is
    gone from log, reflog and the object store, and the patch file itself is not left behind."""
    import subprocess

    from srl_agent.tasks.images import build_package_image
    from srl_agent.tasks.swebench import build_bug_layer

    t = tasks[0]
    clean = build_package_image(load_recipe("pypi-mutants").package(t.extra["package"])).tag  # the fixed package
    tag = build_bug_layer(clean, t.extra["bug_patch"], t.instance_id)
    script = ("git status --porcelain; echo LOG; git log --all --format=%H; git reflog --all; echo CAT; "
              f"git cat-file -t {t.base_commit} 2>&1; ls /tmp; echo DIFF; git diff HEAD")
    out = subprocess.run(["docker", "run", "--rm", "--network", "none", tag, "bash", "-c", script],
                         capture_output=True, text=True, check=True).stdout
    status, rest = out.split("LOG", 1)
    assert status.strip() == "" and t.base_commit not in rest.split("CAT")[0]
    assert rest.split("CAT")[1].split("DIFF")[0].strip().splitlines()[0] != "commit"  # pruned
    assert "srl_bug.patch" not in out and rest.split("DIFF")[1].strip() == ""
    mutation = t.extra["mutation"]
    code = subprocess.run(["docker", "run", "--rm", tag, "cat", mutation["path"]], capture_output=True, text=True,
                          check=True).stdout
    assert mutation["new"].strip() in code or mutation["kind"] == "remove_branch"
