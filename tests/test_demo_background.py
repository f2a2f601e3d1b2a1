"""The demo's background student build: real child processes, their logs, failures named, and no orphan left."""

from __future__ import annotations

import os
import sys
import time

import pytest

from srl_agent import demo
from srl_agent.demo import stages as st
from srl_agent.demo.background import BackgroundBuild, BackgroundBuildError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie counts as gone: it no longer runs
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_a_finished_build_returns_its_seconds_and_keeps_its_output(tmp_path):
    lines = []
    cmd = [sys.executable, "-c", "import time\nfor i in range(3):\n    print('step', i, flush=True); time.sleep(0.2)"]
    with BackgroundBuild(cmd, tmp_path / "b.log") as build:
        seconds = build.wait(lines.append, every=0.2)
    assert 0.5 < seconds < 30
    assert "step 2" in (tmp_path / "b.log").read_text()
    assert any("step" in line for line in lines)  # the waiting stage shows the log's last line


def test_a_failed_build_raises_with_the_tail_of_its_log(tmp_path):
    cmd = [sys.executable, "-c", "import sys; print('the tokenizer broke'); sys.exit(3)"]
    with BackgroundBuild(cmd, tmp_path / "b.log") as build, pytest.raises(BackgroundBuildError) as err:
        build.wait(lambda s: None)
    assert "exited with 3" in str(err.value) and "the tokenizer broke" in str(err.value)
    assert str(tmp_path / "b.log") in str(err.value)


def test_leaving_the_block_stops_a_running_build_and_its_children(tmp_path):
    # the child starts a grandchild in the same process group: both must be gone when the demo stops
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); " \
           "print('started', flush=True); time.sleep(120)"
    with pytest.raises(KeyboardInterrupt):
        with BackgroundBuild([sys.executable, "-c", code], tmp_path / "b.log", grace=2.0) as build:
            deadline = time.monotonic() + 20
            while "started" not in (tmp_path / "b.log").read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            pid = build.proc.pid
            raise KeyboardInterrupt  # what a Ctrl-C in the demo does
    assert not build.running() and not _alive(pid)
    kids = [p for p in os.listdir("/proc") if p.isdigit() and _pgid(int(p)) == pid]
    assert kids == []


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_a_real_srl_command_runs_in_the_background(tmp_path):
    with BackgroundBuild.srl(["tasks", "list", "pypi-mutants"], tmp_path / "b.log") as build:
        build.wait(lambda s: None)
    text = (tmp_path / "b.log").read_text()
    assert text.startswith("$ srl tasks list pypi-mutants") and "tabulate" in text


def test_the_demo_starts_no_build_when_the_student_is_there(tmp_path, monkeypatch):
    from contextlib import ExitStack

    ctx = st.Context(st.QUICK, tmp_path, tmp_path / "demo.log")
    monkeypatch.setattr(st, "student_ready", lambda c: True)
    with ExitStack() as stack:
        demo._start_student(ctx, stack, lambda s: None)
    assert "background" not in ctx.facts


def test_the_student_stage_waits_for_the_background_build_then_checks_its_output(tmp_path, monkeypatch):
    from contextlib import ExitStack

    ctx = st.Context(st.QUICK, tmp_path, tmp_path / "demo.log")
    student = tmp_path / "student"
    monkeypatch.setattr(st, "student_dir", lambda c: (student, "a student"))
    monkeypatch.setattr(st, "student_argv", lambda c: ["unused"])
    # stands in for `srl student init`: writes the spec file after a while
    code = f"import time, pathlib; time.sleep(0.5); p = pathlib.Path({str(student)!r}); p.mkdir(); " \
           f"(p / 'student.json').write_text('{{}}')"
    monkeypatch.setattr(BackgroundBuild, "srl", classmethod(lambda cls, argv, log: cls([sys.executable, "-c", code], log)))
    with ExitStack() as stack:
        demo._start_student(ctx, stack, lambda s: None)
        assert "background" in ctx.facts and not st.student_ready(ctx)  # under way: not ready yet
        stage = next(s for s in demo.STAGES if s.name == "student")
        monkeypatch.setattr(stage, "result", None)
        rec = demo._run_stage(stage, "[4/10] student", ctx, {}, {}, lambda s: None)
    assert rec.status == "done" and rec.detail["background_seconds"] >= 0.4
    assert st.student_ready(ctx)
