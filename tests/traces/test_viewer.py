"""The HTML viewer's page, checked as HTML: escaping, diffs, headline counts, columns per kind of run, how
actions are named, unique names, the prompt of each step, gold patches. The interactive parts (keys, search,
filters, prompt panel) are checked in real Chromium in test_viewer_browser.py."""

from __future__ import annotations

import json
import re

from samples import EVIL, GOLD, PROMPT, expert_trajectory, sample_trace

from srl_agent.actions import Action
from srl_agent.grade_report import GradeReport
from srl_agent.prompts import PromptConfig, build_step_messages
from srl_agent.traces import Trace, TraceStep
from srl_agent.traces.display import describe, swe_agent_command
from srl_agent.trajectory.to_trace import trace_from_trajectory
from srl_agent.traces.html import char_diff, patch_html
from srl_agent.traces.viewer import render_html, trace_names
from srl_agent.trajectory import Step


def _prompt_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="srl-prompts">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


def _prompt_text(data: dict, key: str) -> list[tuple[str, str]]:
    return [(role, "".join(data["s"][i] for i in parts)) for role, parts in data["p"][key]]


def _cards(html: str) -> dict[str, str]:
    return {label: value for value, label in re.findall(r'<div class="card"><b>(.*?)</b><span>(.*?)</span>', html)}


def _headers(html: str) -> list[str]:
    table = re.search(r"<table id=tasks>(.*?)</tr>", html).group(1)
    return re.findall(r"<th>(.*?)</th>", table)


def test_everything_from_the_trace_is_escaped():
    html = render_html([sample_trace()])
    assert "<script>alert" not in html and "<img src=x" not in html and "window.__xss=1</script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert html.count("<script") == 2  # ours: the prompt data and the page script
    assert html.count("</script>") == 2
    # The prompt data is inert JSON: it decodes back to the exact messages, "</script>" included.
    assert _prompt_text(_prompt_data(html), "0.1") == [(m["role"], m["content"]) for m in PROMPT]


def test_char_diff_marks_only_the_differences():
    mine, theirs = char_diff("return a - b", "return a + b")
    assert mine == 'return a <del class="d">-</del> b' and theirs == 'return a <ins class="i">+</ins> b'
    mine, theirs = char_diff("<x>", "<y>")
    assert mine == '&lt;<del class="d">x</del>&gt;' and theirs == '&lt;<ins class="i">y</ins>&gt;'
    html = patch_html("@@ -1 +1 @@\n-a\n+b")
    assert '<span class="r">-a</span>' in html and '<span class="h">@@ -1 +1 @@</span>' in html
    assert '<span class="a">+b</span>' in html


def test_long_observations_are_collapsed_and_the_page_is_self_contained():
    html = render_html([sample_trace(n_long=60)])
    assert '<details class="obs"><summary>observation (60 lines' in html
    for remote in ("http://", "https://", "//cdn", 'src="http', "@import", "url("):
        assert remote not in html


def test_headline_counts_resolved_among_graded_and_ungraded_apart():
    """26 expert trajectories, 7 resolved and 19 without a resolved flag: the page said '100.0% resolved'."""
    trajs = [expert_trajectory(f"t-{i}", resolved=True if i < 7 else None) for i in range(26)]
    html = render_html([trace_from_trajectory(t) for t in trajs])
    cards = _cards(html)
    assert cards["trajectories"] == "26"
    resolved = [k for k in cards if k.startswith("resolved / graded")]
    assert resolved == ["resolved / graded (100.0%, 95% CI 64.6%–100.0%)"] and cards[resolved[0]] == "7 / 7"
    assert cards["ungraded (no resolved flag in the source)"] == "19"
    assert "100.0%</b>" not in html  # no bare headline rate that hides the 19
    mixed = [trace_from_trajectory(expert_trajectory(f"t-{i}", resolved=i < 7 if i < 10 else None))
             for i in range(26)]
    cards = _cards(render_html(mixed))
    assert cards["resolved / graded (70.0%, 95% CI 39.7%–89.2%)"] == "7 / 10"
    assert cards["ungraded (no resolved flag in the source)"] == "16"
    errors = [sample_trace("a"), sample_trace("b", resolved=False), sample_trace("c")]
    errors[2].grade = GradeReport.infrastructure_error(errors[2].instance_id, "container died")
    cards = _cards(render_html(errors))
    assert cards["resolved / graded (50.0%, 95% CI 9.5%–90.5%)"] == "1 / 2"
    assert cards["grading failed (infrastructure error)"] == "1"


def test_columns_fit_the_kind_of_run():
    expert = render_html([trace_from_trajectory(expert_trajectory())])
    assert _headers(expert) == ["trajectory", "source", "format", "status", "steps", "tools", "final patch"]
    assert "format errors (of steps)" not in _cards(expert)
    run = render_html([sample_trace("a"), sample_trace("b", resolved=False)])
    assert _headers(run) == ["task", "status", "steps", "format errors", "stop", "seconds", "mean step reward"]
    samples = render_html([sample_trace("a", sample=0), sample_trace("a", sample=1)])
    assert _headers(samples)[:2] == ["task", "sample"]
    prediction = Trace("p-1", stop_reason="prediction", patch=GOLD, model="gpt-x")
    assert _headers(render_html([prediction])) == ["instance", "model", "status", "final patch"]


SWE_AGENT_STEPS = [("create reproduce.py", "create"), ("open src/fields.py 1474", "open"), ("goto 1480", "goto"),
                   ("scroll_down", "scroll_down"), ("scroll_up", "scroll_up"),
                   ("edit 1475:1475\n        return int(round(x))\nend_of_edit", "edit"),
                   ("edit 'return a' 'return b'", "edit"), ("find_file fields.py src", "find_file"),
                   ("search_dir TimeDelta", "search_dir"), ("search_file round fields.py", "search_file"),
                   ("ls -F", "bash"), ("editor_of_choice x", "bash"), ("edit", "bash")]


def test_swe_agent_commands_are_shown_as_what_they_are_not_as_bash():
    assert [describe(Action.bash(c).render(), "bash", expert=True).name for c, _ in SWE_AGENT_STEPS] == \
        [name for _, name in SWE_AGENT_STEPS]
    assert swe_agent_command("python reproduce.py") is None
    steps = [Step("", Action.bash(c), "ok") for c, _ in SWE_AGENT_STEPS] + [Step("", Action.submit(), "")]
    html = render_html([trace_from_trajectory(expert_trajectory(steps=steps))])
    summaries = re.findall(r"<summary>#\d+ · (.*?)</summary>", html)
    assert summaries[5] == '<b class="tool">edit</b> <span class="swe">SWE-agent</span> 1475:1475'
    assert summaries[0] == '<b class="tool">create</b> <span class="swe">SWE-agent</span> reproduce.py'
    assert summaries[10] == '<b class="tool">bash</b> ls -F'
    assert html.count('<span class="swe">SWE-agent command</span>') == 10
    assert "replaces lines N-M" in html  # what the command does, beside it
    # A student's bash call is bash whatever it says: it ran in a shell.
    student = Trace("s", [TraceStep(0, "", action=Action.bash("open x.py").render(), tool="bash")], "submitted")
    assert '<b class="tool">bash</b> open x.py' in render_html([student])


def test_any_scaffolds_tool_is_shown_by_its_name():
    steps = [Step("", Action("execute_ipython_cell", {"code": "open_file('/workspace/a.css')"}), "ok")]
    html = render_html([trace_from_trajectory(expert_trajectory(steps=steps))])
    assert "<b class=\"tool\">execute_ipython_cell</b> open_file(&#x27;/workspace/a.css&#x27;)" in html
    assert "(tool of the source scaffold)" in html and "execute_ipython_cell 1" in html  # the tools column


def test_two_trajectories_of_one_instance_get_different_names():
    same = [expert_trajectory("m-1867", file="/data/a.default.traj"), expert_trajectory("m-1867", file="/data/b.xml.traj"),
            expert_trajectory("m-1867", file="/data/rows.jsonl", index=0),
            expert_trajectory("m-1867", file="/data/rows.jsonl", index=3), expert_trajectory("other")]
    names = trace_names([trace_from_trajectory(t) for t in same])
    assert names == ["m-1867 · a.default.traj#0", "m-1867 · b.xml.traj#0", "m-1867 · rows.jsonl#0",
                     "m-1867 · rows.jsonl#3", "other"]
    assert trace_names([trace_from_trajectory(t) for t in same[:2]]) == ["m-1867 · a.default.traj",
                                                                       "m-1867 · b.xml.traj"]
    html = render_html([trace_from_trajectory(t) for t in same])
    assert all(f">{n}</a>" in html for n in names)
    assert trace_names([sample_trace("a", sample=0), sample_trace("a", sample=1), sample_trace("b")]) == \
        ["a · sample 0", "a · sample 1", "b"]
    twins = [sample_trace("a"), sample_trace("a")]  # nothing tells them apart: a counter does
    assert trace_names(twins) == ["a (1)", "a (2)"]


def test_expert_steps_show_the_srl_prompt_rebuilt_with_build_step_messages():
    traj = expert_trajectory(steps=[Step(f"t{i}", Action.bash(f"cmd {i}"), f"out {i}") for i in range(4)])
    html = render_html([trace_from_trajectory(traj, PromptConfig(context_rounds=1))])
    data = _prompt_data(html)
    for k in range(4):
        expected = build_step_messages(traj.task.problem_statement, traj.steps[:k], PromptConfig(context_rounds=1))
        assert _prompt_text(data, f"0.{k}") == [(m["role"], m["content"]) for m in expected]
    assert html.count("SRL step prompt (rebuilt from the trajectory)") == 4


def test_student_steps_show_the_recorded_prompt_and_nothing_when_none_was_recorded():
    trace = sample_trace()
    trace.steps[2].prompt = None
    html = render_html([trace])
    assert html.count('class="show-prompt"') == 3 and "prompt the model saw (4 messages" in html
    assert '"0.2"' not in json.dumps(_prompt_data(html)["p"])


def test_gold_patch_beside_the_final_patch_when_known():
    known = trace_from_trajectory(expert_trajectory(gold=GOLD))
    unknown = trace_from_trajectory(expert_trajectory("t-2", gold=None))
    html = render_html([known, unknown])
    assert html.count('<pre class="diff gold">') == 1 and "# gold" in html
    assert "gold patch · +1 −1 in 1 file" in html and "(not known for this task)" in html
    assert html.count("final patch · +1 −1 in 1 file") == 2
    assert _cards(html)["with a known gold patch"] == "1"
