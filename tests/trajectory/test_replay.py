"""Replay: volatile output masked before comparing, step-failure rules, and (in Docker) generated trajectories that
replay and resolve, a corrupted fix that does not, an unknown task that is reported, a verified subset, resuming."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from srl_agent.actions import Action
from srl_agent.trajectory.replay import (UNKNOWN_TASK, _step_failed, normalize_observation,
                                         observation_similarity)
from srl_agent.trajectory.schema import Step


def test_normalize_masks_timings_addresses_dates_and_blob_ids():
    a = ("455 passed in 0.78s\n<object at 0x7f4d0cb0c220>\n-rw-r--r-- 1 agent agent 34 Nov 27 01:25 .gitignore\n"
         "index 9f64f69..c18a0b6 100644\n\x1b[32mok\x1b[0m  \n2026-11-27 01:46:50.016 +0000")
    b = ("455 passed in 1.02s\n<object at 0x7f00deadbeef>\n-rw-r--r-- 1 agent agent 34 Nov 27 02:13 .gitignore\n"
         "index 1234567..abcdef0 100644\nok\n2026-11-28 11:00:00.5 +0000")
    assert normalize_observation(a) == normalize_observation(b)
    assert observation_similarity(a, b) == 1.0


def test_similarity_is_difflibs_ratio_on_the_normalised_text():
    a, b = "def f(x):\n    return x + 1\n", "def f(x):\n    return x - 1\n"
    assert observation_similarity(a, b) == pytest.approx(difflib.SequenceMatcher(None, a.strip(), b.strip()).ratio())
    assert observation_similarity("", "") == 1.0
    assert observation_similarity("abc", "xyz") == 0.0


def test_a_step_fails_when_it_errs_where_the_recording_succeeded():
    bash = Step("t", Action.bash("ls"), "a", 0)
    assert _step_failed(bash, 1, False) and not _step_failed(bash, 0, False)
    assert _step_failed(bash, 0, True), "a timeout is a failure"
    assert not _step_failed(Step("t", Action.bash("false"), "", 1), 1, False), "it failed in the recording too"
    assert not _step_failed(Step("t", Action.bash("x"), "", None), 2, False), "bash with no recorded code"
    edit = Action.editor("str_replace", "/testbed/a.py", old_str="a", new_str="b")
    assert _step_failed(Step("t", edit, "The file /testbed/a.py has been edited.", None), 1, False)
    assert not _step_failed(Step("t", edit, "No replacement was performed, old_str `a` did not appear", None), 1, False)
    assert not _step_failed(Step("t", Action.submit(), "", 0), 1, False)


# ---- real tasks in containers ---------------------------------------------------------------------------------

def _corrupt_fix(traj):
    """The same trajectory with every str_replace turned into a no-op, so nothing is fixed."""
    from srl_agent.trajectory import Trajectory

    bad = Trajectory.from_dict(traj.to_dict())
    for s in bad.steps:
        if s.action.args.get("command") == "str_replace":
            s.action.args["new_str"] = s.action.args["old_str"]
    return bad


@pytest.fixture(scope="module")
def replayed(docker_engine, tmp_path_factory):
    """Three generated trajectories (three packages), one with a corrupted fix and one for an unknown task,
    replayed once through the CLI with --keep-resolved."""
    from test_generate import suite_tasks

    from srl_agent.cli import main
    from srl_agent.trajectory import Trajectory, write_trajectories
    from srl_agent.trajectory.generate import generate_trajectories

    by_pkg = {}
    for t in suite_tasks():
        by_pkg.setdefault(t.extra.get("package"), t)
    tasks = list(by_pkg.values())[:3]
    d = tmp_path_factory.mktemp("replay")
    gen = generate_trajectories(tasks, d / "gen.jsonl", seed=11, workers=2)
    assert gen.written == len(tasks), gen.failures
    from srl_agent.trajectory import read_trajectories

    good = list(read_trajectories(d / "gen.jsonl"))
    unknown = Trajectory.from_dict(good[1].to_dict())
    unknown.task.instance_id = "nosuchpkg-0.0__not_a_task"
    write_trajectories(good + [_corrupt_fix(good[0]), unknown], d / "in.jsonl")
    argv = ["traj", "replay", str(d / "in.jsonl"), "--tasks", "pypi-mutants", "-o", str(d / "report.jsonl"),
            "--keep-resolved", str(d / "kept.jsonl"), "--workers", "2"]
    rc = main(argv)
    report = [json.loads(line) for line in (d / "report.jsonl").read_text().splitlines()]
    return dict(dir=d, argv=argv, rc=rc, report=report, good=good)


@pytest.mark.docker
def test_replaying_generated_trajectories_resolves(replayed):
    assert replayed["rc"] == 0
    report = replayed["report"]
    assert [r["index"] for r in report] == list(range(5))
    for r, traj in zip(report[:3], replayed["good"]):
        assert r["resolved"] and r["status"] == "FULL", r
        assert r["steps_executed"] == len(traj.steps) and r["steps_failed"] == 0, r["step_details"]
        assert r["observation_similarity"] > 0.95 and r["patch_matches_recorded"] is True
        assert r["infra_error"] is None


@pytest.mark.docker
def test_a_corrupted_fix_does_not_resolve_and_its_failing_steps_are_counted(replayed):
    r = replayed["report"][3]
    assert r["resolved"] is False and r["status"] in ("NO", "PARTIAL") and r["infra_error"] is None
    assert r["steps_failed"] >= 1, "the reproduction script still fails where the recording passed"
    assert r["observation_similarity"] < 1.0


@pytest.mark.docker
def test_a_trajectory_for_an_unknown_task_is_reported_not_fatal(replayed):
    r = replayed["report"][4]
    assert r["status"] == UNKNOWN_TASK and not r["resolved"] and r["steps_executed"] == 0
    assert "nosuchpkg-0.0__not_a_task" in r["error"] and "--tasks" in r["error"]


@pytest.mark.docker
def test_keep_resolved_writes_only_the_verified_trajectories_with_fresh_observations(replayed):
    from srl_agent.trajectory import read_trajectories

    kept = list(read_trajectories(replayed["dir"] / "kept.jsonl"))
    assert [t.task.instance_id for t in kept] == [t.task.instance_id for t in replayed["good"]]
    for t, orig in zip(kept, replayed["good"]):
        assert t.resolved is True and t.meta["replay"]["status"] == "FULL"
        assert [s.action for s in t.steps] == [s.action for s in orig.steps]
        assert t.patch.strip() and t.steps[-1].observation == t.patch
    assert not (replayed["dir"] / "kept.jsonl.partial").exists()


@pytest.mark.docker
def test_rerunning_resumes_without_replaying_finished_trajectories(replayed, capsys):
    from srl_agent.cli import main

    before = (replayed["dir"] / "report.jsonl").read_text()
    assert main(replayed["argv"]) == 0
    out = capsys.readouterr().out
    assert "0 replayed, 5 from an earlier run" in out
    assert (replayed["dir"] / "report.jsonl").read_text() == before
    assert len((replayed["dir"] / "kept.jsonl").read_text().splitlines()) == 3


@pytest.mark.docker
def test_ctrl_c_stops_replay_keeps_its_results_and_a_rerun_resumes(replayed, interrupt_srl):
    """Issue 16: a first SIGINT used to run the whole queue and then write neither the report nor --keep-resolved."""
    from srl_agent.cli import main
    from srl_agent.trajectory import read_trajectories, write_trajectories

    d = replayed["dir"]
    many = [t for _ in range(4) for t in replayed["good"]]  # 12 trajectories of 3 tasks, replayed one at a time
    write_trajectories(many, d / "many.jsonl")
    report, kept = d / "ctrl_c.jsonl", d / "ctrl_c_kept.jsonl"
    argv = ["traj", "replay", str(d / "many.jsonl"), "--tasks", "pypi-mutants", "-o", str(report),
            "--keep-resolved", str(kept), "--workers", "1"]
    got = interrupt_srl(argv, lambda: report.is_file() and len(report.read_text().splitlines()) >= 1)
    assert got.rc == 130, got.stderr
    assert "rerun the same command to resume" in got.stderr and "Traceback" not in got.stderr
    done = [json.loads(line) for line in report.read_text().splitlines()]
    assert 1 <= len(done) < len(many), "the run stopped early and kept what finished"
    assert [r["index"] for r in done] == sorted(r["index"] for r in done)
    assert len(list(read_trajectories(kept))) == sum(r["resolved"] for r in done) >= 1
    assert not Path(str(kept) + ".partial").exists()
    assert main(argv) == 0
    again = [json.loads(line) for line in report.read_text().splitlines()]
    assert [r["index"] for r in again] == list(range(len(many)))
    assert all(again[r["index"]] == r for r in done), "finished replays are kept, not replayed again"
    assert len(list(read_trajectories(kept))) == len(many)
