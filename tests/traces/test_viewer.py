"""The trace schema and the HTML viewer: escaping, diffs, the CLI; and the page in real headless Chromium."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import pytest

from srl_agent.actions import Action, format_completion
from srl_agent.errors import InputError
from srl_agent.traces import Trace, TraceStep
from srl_agent.traces.viewer import char_diff, patch_html, render_html
from srl_agent.trajectory import Source, Step, Trajectory, write_trajectories
from srl_agent.task import Task

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
EVIL = "<script>alert('x')</script><img src=x onerror=alert(1)>"


def sample_trace(instance_id: str = "demo__calc-1", resolved: bool = True, n_long: int = 60) -> Trace:
    bash = Action.bash("grep -rn 'def add' src/ && echo '<b>done</b>'")
    edit = Action.editor("str_replace", "/testbed/src/calc.py", old_str="return a - b", new_str="return a + b")
    steps = [
        TraceStep(0, format_completion("Find where add lives. " + EVIL, bash), think="Find where add lives. " + EVIL,
                  action=bash.render(), tool="bash", observation="src/calc.py:3:def add(a, b):\n" + EVIL, exit_code=0,
                  expert_action=Action.bash("grep -rn 'def add' .").render(), reward=0.81),
        TraceStep(1, "I think I'll just write code", format_error="output must start with <think>",
                  observation="Your output could not be parsed"),
        TraceStep(2, format_completion("Fix the operator.", edit), think="Fix the operator.", action=edit.render(),
                  tool="str_replace_editor", observation="\n".join(f"line {i}" for i in range(n_long)), exit_code=0),
        TraceStep(3, format_completion("Done.", Action.submit()), think="Done.", action=Action.submit().render(),
                  tool="submit", observation="diff --git a/src/calc.py b/src/calc.py"),
    ]
    patch = "diff --git a/src/calc.py b/src/calc.py\n--- a/src/calc.py\n+++ b/src/calc.py\n@@ -3 +3 @@\n-    return a - b\n+    return a + b\n"
    grade = {"status": "FULL" if resolved else "NO", "resolved": resolved, "infra_error": None,
             "tests_status": {"FAIL_TO_PASS": {"success": ["tests/test_calc.py::test_add"] if resolved else [],
                                               "failure": [] if resolved else ["tests/test_calc.py::test_add"]}}}
    return Trace(instance_id=instance_id, steps=steps, stop_reason="submitted", patch=patch, grade=grade,
                 problem_statement="add() subtracts " + EVIL, model="tiny", wall_seconds=3.2)


def test_trace_round_trips_through_versioned_json(tmp_path):
    trace = sample_trace()
    trace.write(tmp_path / "trace.json")
    back = Trace.read(tmp_path / "trace.json")
    assert back == trace and back.format_errors == 1 and back.status == "resolved"
    with pytest.raises(InputError, match="srl-trace/1"):
        Trace.from_dict({"schema": "srl-trajectory/1"})


def test_everything_from_the_trace_is_escaped():
    html = render_html([sample_trace()])
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert html.count("<script>") == 1  # ours only


def test_char_diff_marks_only_the_differences():
    mine, theirs = char_diff("return a - b", "return a + b")
    assert mine == 'return a <del class="d">-</del> b' and theirs == 'return a <ins class="i">+</ins> b'
    mine, theirs = char_diff("<x>", "<y>")
    assert mine == '&lt;<del class="d">x</del>&gt;' and theirs == '&lt;<ins class="i">y</ins>&gt;'
    html = patch_html("@@ -1 +1 @@\n-a\n+b")
    assert '<span class="r">-a</span>' in html and '<span class="h">@@ -1 +1 @@</span>' in html and '<span class="a">+b</span>' in html


def test_long_observations_are_collapsed_and_self_contained():
    html = render_html([sample_trace(n_long=60)])
    assert '<details class="obs"><summary>observation (60 lines' in html
    for remote in ("http://", "https://", "//cdn", "src=\"http"):
        assert remote not in html


def _view(argv: list[str]) -> int:
    from srl_agent.traces import cli

    parser = argparse.ArgumentParser(prog="srl")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def _write_run(run: Path) -> list[Trace]:
    traces = [sample_trace("demo__calc-1", True), sample_trace("demo__calc-2", False)]
    for t in traces:
        t.write(run / t.instance_id / "trace.json")
    return traces


def _trajectory_file(path: Path) -> Path:
    steps = [Step("look", Action.bash("grep -rn 'def add' src/"), "src/calc.py:3"),
             Step("fix", Action.editor("str_replace", "/testbed/src/calc.py", old_str="a - b", new_str="a + b"), "ok")]
    write_trajectories([Trajectory(Task("demo__calc-1", problem_statement="add() subtracts"), steps,
                                   Source("test", "mem", 0), resolved=True, patch="diff --git a/x b/x\n")], path)
    return path


def test_cli_renders_a_run_with_expert_annotation_and_a_trajectory_file(tmp_path):
    _write_run(tmp_path / "run")
    expert = _trajectory_file(tmp_path / "expert.jsonl")
    assert _view(["traces", "view", str(tmp_path / "run"), "-o", str(tmp_path / "r.html"), "--expert", str(expert)]) == 0
    html = (tmp_path / "r.html").read_text()
    assert html.count('class="step"') == 8 and html.count('<section class="task"') == 2
    assert 'class="expert"' in html and "step reward" in html
    assert _view(["traces", "view", str(expert), "-o", str(tmp_path / "t.html")]) == 0
    html = (tmp_path / "t.html").read_text()
    assert html.count('class="step"') == 2 and "expert (test)" in html
    with pytest.raises(InputError, match="srl eval"):
        _view(["traces", "view", str(tmp_path / "missing"), "-o", str(tmp_path / "x.html")])


# ---- the page in a real browser -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail("chromium is missing in CI: `make test` installs it (scripts/setup_test_extras.sh)")
        pytest.skip("chromium not found: install Debian's chromium (apt-get install chromium) to run the viewer test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


@pytest.mark.browser
def test_viewer_page_in_headless_chromium(browser, tmp_path):
    traces = _write_run(tmp_path / "run")
    expert = _trajectory_file(tmp_path / "expert.jsonl")
    out = tmp_path / "report.html"
    _view(["traces", "view", str(tmp_path / "run"), "-o", str(out), "--expert", str(expert)])
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(out.as_uri())
    page.wait_for_load_state("load")
    assert errors == []
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    assert page.evaluate("() => window.__xss === undefined")

    first = page.locator("section.task").first
    assert first.locator("details.step").count() == len(traces[0].steps)
    assert int(first.get_attribute("data-steps")) == len(traces[0].steps)
    step = first.locator("details.step").first
    assert step.get_attribute("open") is None and not step.locator(".think").is_visible()
    step.locator("summary").click()
    assert step.get_attribute("open") is not None and step.locator(".think").is_visible()
    assert step.locator("pre.mine del.d").count() >= 1  # the diff highlight against the expert

    page.locator('button[data-filter="unresolved"]').click()
    assert page.locator("section.task").nth(0).is_hidden() and page.locator("section.task").nth(1).is_visible()
    page.locator('button[data-filter="all"]').click()
    first.locator('button[data-expand="1"]').click()
    assert first.locator("details.step[open]").count() == len(traces[0].steps)
    first.locator('button[data-expand="0"]').click()
    step.locator("summary").click()
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "viewer.png"), full_page=True)
    assert (ARTIFACTS / "viewer.png").stat().st_size > 10_000
    assert errors == []
    page.close()
