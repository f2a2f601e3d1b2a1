"""`srl demo --quick` for real (what `make demo QUICK=1` runs): every stage runs, the report matches the traces,
a second run skips every stage, and a failing stage is named with the command that reruns it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from srl_agent import demo
from srl_agent.actions import Action
from srl_agent.task import Task
from srl_agent.trajectory import Source, Step, Trajectory, write_trajectories
from srl_agent.demo import stages as st

RUN_DIR_STAGES = [s.name for s in demo.STAGES if not s.setup]
SETUP_STAGES = [s.name for s in demo.STAGES if s.setup]


def srl(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "srl_agent.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=st.REPO)


def outputs_mtimes(run_dir: Path) -> dict[str, float]:
    files = [run_dir / "report.html", run_dir / "steps_before.json", run_dir / "steps_after.json",
             run_dir / "train" / "final" / "model.safetensors", run_dir / "expert" / "verified.jsonl",
             *sorted((run_dir / "eval").rglob("trace.json"))]
    return {str(f): f.stat().st_mtime for f in files}


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_quick_demo_runs_every_stage_then_skips_them(base_image, tmp_path):
    run_dir = tmp_path / "demo"
    first = srl("demo", "--quick", "--run-dir", str(run_dir))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["schema"] == demo.SUMMARY_SCHEMA and summary["mode"] == "quick"
    status = {s["name"]: s["status"] for s in summary["stages"]}
    assert list(status) == [s.name for s in demo.STAGES]
    assert all(status[n] == "done" for n in RUN_DIR_STAGES), status
    assert all(status[n] in ("done", "reused") for n in SETUP_STAGES), status
    for name in demo.STAGES:
        assert f"] {name.name}" in first.stdout  # one line per stage as it starts

    # the numbers in the summary are the stages' own outputs
    before = json.loads((run_dir / "steps_before.json").read_text())
    after = json.loads((run_dir / "steps_after.json").read_text())
    assert summary["step_reward"] == {"before": before["mean_reward"], "after": after["mean_reward"],
                                      "examples": after["examples"]}
    assert before["examples"] == after["examples"] > 0
    ev = json.loads((run_dir / "eval" / "summary.json").read_text())
    assert summary["eval"]["episodes"] == ev["episodes"] > 0 and summary["eval"]["resolved"] == ev["resolved"]
    assert "step reward" in first.stdout and "resolved (held-out tasks)" in first.stdout
    assert "report.html" in first.stdout

    # the report shows exactly the student's steps, with the expert's actions beside them
    traces = [json.loads(p.read_text()) for p in (run_dir / "eval").rglob("trace.json")]
    assert len(traces) == ev["episodes"]
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    steps = sum(len(t["steps"]) for t in traces)
    assert steps > 0
    assert html.count('<details class="step"') == steps == summary["report_steps"]
    assert any(s.get("expert_action") for t in traces for s in t["steps"])

    # second run: everything is already there, nothing is redone
    mtimes = outputs_mtimes(run_dir)
    second = srl("demo", "--quick", "--run-dir", str(run_dir), timeout=300)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    again = json.loads((run_dir / "summary.json").read_text())
    status2 = {s["name"]: s["status"] for s in again["stages"]}
    assert all(status2[n] == "skipped" for n in RUN_DIR_STAGES), status2
    assert all(status2[n] == "reused" for n in SETUP_STAGES), status2
    assert outputs_mtimes(run_dir) == mtimes
    assert again["step_reward"] == summary["step_reward"] and again["eval"] == summary["eval"]

    # a failing stage is named, with the command that reruns it alone, and no traceback
    bogus = tmp_path / "other.jsonl"  # a trajectory for a task the suite does not have
    write_trajectories([Trajectory(task=Task(instance_id="elsewhere__1", repo="x/y", base_commit="0",
                                             problem_statement="it breaks"),
                                   steps=[Step("look", Action.bash("ls"), "a.py")],
                                   source=Source("canonical", "other.jsonl", 0))], bogus)
    bad = srl("demo", "--quick", "--run-dir", str(tmp_path / "bad"), "--trajectories", str(bogus), timeout=300)
    assert bad.returncode == 1
    assert "stage 'expert' failed" in bad.stderr and "rerun it alone: srl traj replay" in bad.stderr
    assert "none of the trajectories" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_round_robin_covers_every_package():
    items = [f"a__{i}" for i in range(5)] + [f"b__{i}" for i in range(2)] + ["c__0"]
    picked = st._round_robin(items, st._package, 4)
    assert sorted({st._package(x) for x in picked}) == ["a", "b", "c"] and len(picked) == 4
    assert st._round_robin(items, st._package, None) == items


def test_signature_follows_settings_and_inputs(tmp_path):
    stage = next(s for s in demo.STAGES if s.name == "eval")
    ctx = st.Context(st.QUICK, tmp_path, tmp_path / "log")
    a = demo._signature(stage, ctx, {"train": "x", "expert": "y"})
    assert a == demo._signature(stage, ctx, {"train": "x", "expert": "y"})
    assert a != demo._signature(stage, ctx, {"train": "z", "expert": "y"})  # upstream redone -> redo
    full = st.Context(st.FULL, tmp_path, tmp_path / "log")
    assert a != demo._signature(stage, full, {"train": "x", "expert": "y"})  # other size -> redo


def test_a_verified_replay_is_reused_only_for_the_same_inputs(tmp_path, monkeypatch):
    """The expert stage's replay is kept per (trajectories, task images, code): the same inputs in a fresh run
    dir reuse it, a changed trajectory file or --reverify replays again. The replay itself is faked here (the
    quick demo above runs it for real)."""
    from srl_agent.demo import expert as de

    monkeypatch.setenv("SRL_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(st, "_package_tags", lambda: [])
    calls: list[list[str]] = []

    def fake_replay(ctx, argv):
        calls.append(argv)
        out, keep = Path(argv[argv.index("-o") + 1]), Path(argv[argv.index("--keep-resolved") + 1])
        out.write_text('{"replayed": %d}\n' % len(calls))
        keep.write_text(Path(argv[2]).read_text())
        return 0

    monkeypatch.setattr(st, "run_srl", fake_replay)

    def verify(run: str, content: str, reverify: bool = False) -> tuple[str, str]:
        ctx = st.Context(st.QUICK, tmp_path / run, tmp_path / run / "demo.log")
        ctx.facts["reverify"] = reverify
        p = de.expert_paths(ctx)
        p["selected"].parent.mkdir(parents=True, exist_ok=True)
        p["selected"].write_text(content)
        return de.verify_by_replay(ctx, p), p["replay"].read_text()

    source, replay = verify("a", "one\n")
    assert len(calls) == 1 and source == "bundled, verified by replay" and replay == '{"replayed": 1}\n'
    source, replay = verify("b", "one\n")  # fresh run dir, same inputs: reused, not replayed
    assert len(calls) == 1 and "earlier replay" in source and replay == '{"replayed": 1}\n'
    assert "replay skipped" in (tmp_path / "b" / "demo.log").read_text()
    verify("c", "two\n")  # another trajectory file
    assert len(calls) == 2
    verify("d", "one\n", reverify=True)
    assert len(calls) == 3
    monkeypatch.setattr(de, "_source_digest", lambda: "other code")
    verify("e", "one\n")  # the same file replayed by changed code
    assert len(calls) == 4
