"""Traces, trajectories and pages the viewer tests share (not a test module)."""

from __future__ import annotations

import argparse
from pathlib import Path

from srl_agent.actions import Action, format_completion
from srl_agent.task import Task
from srl_agent.traces import Trace, TraceStep
from srl_agent.trajectory import Source, Step, Trajectory, write_trajectories

EVIL = "<script>alert('x')</script><img src=x onerror=alert(1)>"
PROMPT = [{"role": "system", "content": "You are a software engineer."},
          {"role": "user", "content": "add() subtracts " + EVIL + "\n\n(You have taken 1 step.)"},
          {"role": "assistant", "content": Action.bash("ls").render()},
          {"role": "user", "content": "OBSERVATION:\nsrc/ </script><script>window.__xss=1</script>"}]
GOLD = "diff --git a/src/calc.py b/src/calc.py\n--- a/src/calc.py\n+++ b/src/calc.py\n@@ -3 +3 @@\n-    return a - b\n+    return a + b  # gold\n"
PATCH = "diff --git a/src/calc.py b/src/calc.py\n--- a/src/calc.py\n+++ b/src/calc.py\n@@ -3 +3 @@\n-    return a - b\n+    return a + b\n"


def sample_trace(instance_id: str = "demo__calc-1", resolved: bool | None = True, n_long: int = 60,
                 sample: int = 0) -> Trace:
    bash = Action.bash("grep -rn 'def add' src/ && echo '<b>done</b>'")
    edit = Action.editor("str_replace", "/testbed/src/calc.py", old_str="return a - b", new_str="return a + b")
    steps = [
        TraceStep(0, format_completion("Find where add lives. " + EVIL, bash), think="Find where add lives. " + EVIL,
                  action=bash.render(), tool="bash", observation="src/calc.py:3:def add(a, b):\n" + EVIL, exit_code=0,
                  expert_action=Action.bash("grep -rn 'def add' .").render(), reward=0.81, prompt=PROMPT[:2]),
        TraceStep(1, "I think I'll just write code", format_error="output must start with <think>",
                  observation="Your output could not be parsed", prompt=PROMPT),
        TraceStep(2, format_completion("Fix the operator.", edit), think="Fix the operator.", action=edit.render(),
                  tool="str_replace_editor", observation="\n".join(f"line {i}" for i in range(n_long)), exit_code=0,
                  prompt=PROMPT),
        TraceStep(3, format_completion("Done.", Action.submit()), think="Done.", action=Action.submit().render(),
                  tool="submit", observation="diff --git a/src/calc.py b/src/calc.py", prompt=PROMPT),
    ]
    grade = None if resolved is None else {
        "status": "FULL" if resolved else "NO", "resolved": resolved, "infra_error": None,
        "tests_status": {"FAIL_TO_PASS": {"success": ["tests/test_calc.py::test_add"] if resolved else [],
                                          "failure": [] if resolved else ["tests/test_calc.py::test_add"]}}}
    return Trace(instance_id=instance_id, steps=steps, stop_reason="submitted", patch=PATCH, grade=grade,
                 problem_statement="add() subtracts " + EVIL, model="tiny", wall_seconds=3.2, sample=sample)


def write_run(run: Path, traces: list[Trace] | None = None) -> list[Trace]:
    traces = traces or [sample_trace("demo__calc-1", True), sample_trace("demo__calc-2", False)]
    for t in traces:
        folder = run / t.instance_id / (f"sample_{t.sample}" if any(x.sample for x in traces) else "")
        t.write(folder / "trace.json")
    return traces


def expert_trajectory(instance_id: str = "demo__calc-1", *, resolved: bool | None = True, index: int = 0,
                      file: str = "mem", gold: str | None = GOLD, steps: list[Step] | None = None) -> Trajectory:
    steps = steps or [Step("look", Action.bash("grep -rn 'def add' src/"), "src/calc.py:3"),
                      Step("fix", Action.editor("str_replace", "/testbed/src/calc.py", old_str="a - b",
                                                new_str="a + b"), "ok")]
    return Trajectory(Task(instance_id, problem_statement="add() subtracts", gold_patch=gold), steps,
                      Source("test", file, index), resolved=resolved, patch=PATCH)


def trajectory_file(path: Path, trajectories: list[Trajectory] | None = None) -> Path:
    write_trajectories(trajectories or [expert_trajectory()], path)
    return path


def view_cli(argv: list[str]) -> int:
    """`srl traces ...` through the command's own parser (errors raise, for pytest.raises)."""
    from srl_agent.cli import traces as cli

    parser = argparse.ArgumentParser(prog="srl")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)
