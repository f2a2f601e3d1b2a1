"""The classes of loss of issue 13 on small hand-written records in the real shapes (these run without the corpus)."""

from __future__ import annotations

import json

import pytest

from srl_agent.actions import BASH, SUBMIT
from srl_agent.trajectory.accounting import ASSUMED, FormatCounts, format_table, reason_key
from srl_agent.trajectory.formats import FORMATS, RecordError, detect_format
from srl_agent.trajectory.formats.base import reasoning_text
from srl_agent.trajectory.formats.outcome import find_patch, find_resolved
from srl_agent.trajectory.importer import convert
from srl_agent.trajectory.readers import RawRecord
from srl_agent.trajectory.schema import Source

TASK = "<pr_description>\nadd() subtracts\n</pr_description>"


def _parse(rec, fmt=None):
    name = fmt or detect_format(rec)
    return FORMATS[name].parse(rec, Source(name, "f.json", 0))


def _v2(assistant: dict, **extra) -> dict:
    return {"trajectory_format": "mini-swe-agent-1.1", "instance_id": "demo__calc-1",
            "info": {"exit_status": "Submitted", "submission": "diff --git a/calc.py b/calc.py\n"},
            "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": TASK},
                         {"role": "assistant", "content": "", "tool_calls": [
                             {"id": "c1", "type": "function",
                              "function": {"name": "bash", "arguments": json.dumps({"command": "cat calc.py"})}}],
                          **assistant},
                         {"role": "tool", "tool_call_id": "c1", "content": "<returncode>0</returncode>\n<output>\n"
                                                                            "def add(a, b): return a - b\n</output>"},
                         {"role": "assistant", "content": "", "tool_calls": [
                             {"id": "c2", "type": "function", "function": {"name": "bash", "arguments": json.dumps(
                                 {"command": "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && cat patch.txt"})}}]},
                         {"role": "exit", "content": "diff --git a/calc.py b/calc.py\n"}], **extra}


@pytest.mark.parametrize("holder", [
    {"reasoning_content": "look at calc.py"},
    {"reasoning": "look at calc.py"},
    {"thinking": "look at calc.py"},
    {"provider_specific_fields": {"reasoning_content": "look at calc.py"}},
    {"thinking_blocks": [{"type": "thinking", "thinking": "look at calc.py", "signature": "x"}]},
])
def test_reasoning_fields_become_the_thought(holder):
    t = _parse(_v2(holder))
    assert t.source.format == "mini-swe-agent"
    assert t.steps[0].thought == "look at calc.py" and t.steps[0].exit_code == 0
    assert [s.action.tool for s in t.steps] == [BASH, SUBMIT]
    assert t.patch == "diff --git a/calc.py b/calc.py\n" and t.meta["patch_from"] == "info.submission"


def test_reasoning_comes_before_the_visible_text_and_thinking_parts_are_not_text():
    msg = {"content": [{"type": "thinking", "thinking": "hidden"}, {"type": "text", "text": "visible"}]}
    assert reasoning_text(msg) == "hidden"
    t = _parse(_v2({"reasoning_content": "hidden", "content": "THOUGHT: visible"}))
    assert t.steps[0].thought == "hidden\n\nTHOUGHT: visible"


def test_cleanup_chained_before_the_submit_marker_in_a_tool_call_is_its_own_step():
    rec = _v2({})
    rec["messages"][4]["tool_calls"][0]["function"]["arguments"] = json.dumps(
        {"command": "rm repro.py && echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git diff"})
    t = _parse(rec)
    assert [s.action.tool for s in t.steps] == [BASH, BASH, SUBMIT]
    assert t.steps[1].action.args["command"] == "rm repro.py"


def _events(*actions) -> list:
    return [{"id": 0, "source": "environment", "action": "initialize", "args": {"AGENT": "CodeActAgent"}},
            {"id": 1, "source": "user", "action": "message", "args": {"content": "fix add()"}}, *actions]


def test_environment_events_are_not_steps_and_a_lone_finish_is_not_a_trajectory():
    with pytest.raises(RecordError) as exc:
        _parse(_events({"id": 2, "source": "agent", "action": "message", "args": {"content": "Sure."}},
                       {"id": 3, "source": "agent", "action": "finish", "args": {"thought": ""}}))
    assert exc.value.field == "steps" and "no environment action" in exc.value.reason


def test_feedback_table_events_keep_arguments_under_extras():
    row = {"version": "1.0", "feedback": "negative", "permissions": "public", "trajectory": [
        {"action": "initialize", "content": None, "extras": {"AGENT": "CodeActAgent"}, "observation": None,
         "source": "environment", "id": None},
        {"action": "message", "content": "fix add()", "extras": {"content": "fix add()"}, "observation": None,
         "source": "user", "id": 1},
        {"action": "run", "content": None, "extras": {"command": "pytest -q", "thought": "run the tests"},
         "observation": None, "source": "agent", "id": 2},
        {"action": None, "content": "1 failed", "extras": {"command": "pytest -q", "exit_code": 1},
         "observation": "run", "source": "agent", "id": 3, "cause": 2},
        {"action": "finish", "content": None, "extras": {}, "observation": None, "source": "agent", "id": 4}]}
    t = _parse(row)
    assert t.source.format == "openhands-feedback" and t.meta["feedback"] == "negative" and t.resolved is None
    assert t.task.problem_statement == "fix add()"
    assert t.steps[0].action.args == {"command": "pytest -q"} and t.steps[0].thought == "run the tests"
    assert t.steps[0].observation == "1 failed" and t.steps[0].exit_code == 1
    assert convert(RawRecord("f.json", 0, row)).trajectory is not None
    forced = _parse(row, "openhands-events")  # --format openhands-events on the row reads its `trajectory`
    assert [s.action.to_dict() for s in forced.steps] == [s.action.to_dict() for s in t.steps]


def test_error_without_an_action_is_appended_to_the_last_observation():
    events = _events(
        {"id": 2, "source": "agent", "action": "run", "args": {"command": "ls", "thought": ""}},
        {"id": 3, "source": "agent", "observation": "run", "cause": 2, "content": "calc.py", "extras": {}},
        {"id": 4, "source": "agent", "observation": "error", "content": "Missing required argument \"path\""},
        {"id": 5, "source": "agent", "action": "finish", "args": {}})
    t = _parse(events)
    assert t.steps[0].observation == ("calc.py\n\nMissing required argument \"path\"\n"
                                      "[Error occurred in processing last action]")
    assert t.meta["errors_without_action"] == 1


def test_outcome_paths_read_nested_and_repr_fields():
    row = {"resolved": None, "test_result": {"git_patch": "", "report": "{'resolved': True, 'error_eval': False}"},
           "info": {"submission": "diff --git a b"}}
    assert find_resolved(row) == (True, "test_result.report.resolved")
    assert find_patch(row) == ("diff --git a b", "info.submission")
    assert find_resolved({"verified": "true"}) == (True, "verified")
    assert find_patch({"patch": "  "}) == (None, None)


def test_assume_resolved_fills_only_unknown_flags():
    rows = [{"instance_id": "a", "messages": [{"role": "user", "content": TASK},
                                             {"role": "assistant", "content": "<function=bash>\n<parameter=command>"
                                                                              "ls</parameter>\n</function>"}]}]
    rows.append({**rows[0], "resolved": False})
    from srl_agent.trajectory.importer import ImportOptions

    got = [convert(RawRecord("f", i, r), ImportOptions(assume_resolved=True)).trajectory for i, r in enumerate(rows)]
    assert [t.resolved for t in got] == [True, False]
    assert got[0].meta["resolved_from"] == ASSUMED and "resolved_from" in got[1].meta


def test_sharegpt_rows_and_openhands_in_context_example():
    example = ("Here's a running example.\n--------------------- START OF EXAMPLE ---------------------\nUSER: demo\n"
               "--------------------- END OF EXAMPLE ---------------------\n\n"
               "--------------------- NEW TASK DESCRIPTION ---------------------\n" + TASK +
               "\n--------------------- END OF NEW TASK DESCRIPTION ---------------------\n")
    row = {"id": "x", "system": "sys", "conversations": [
        {"from": "human", "value": example},
        {"from": "gpt", "value": "<function=execute_bash>\n<parameter=command>ls</parameter>\n</function>"},
        {"from": "human", "value": "EXECUTION RESULT of [execute_bash]:\ncalc.py"}]}
    t = _parse(row)
    assert t.source.format == "openhands-sft" and t.task.problem_statement == "add() subtracts"
    assert t.steps[0].action.args == {"command": "ls"} and t.steps[0].observation == "calc.py"


def test_undetected_record_names_what_its_field_holds():
    c = convert(RawRecord("f.json", 3, {"trajectory": [{"foo": 1}]}))
    assert c.reject["field"] == "trajectory"
    assert "a list of objects with keys foo that no importer recognises" in c.reject["reason"]
    assert "got list" not in c.reject["reason"]


def test_accounting_groups_reasons_and_hints_at_assume_resolved():
    assert reason_key("messages[12].content", "line 40 is bad") == "messages[].content: line N is bad"
    c = FormatCounts()
    c.reject("steps", "the trajectory has no actions")
    c.unknown_resolution, c.accepted, c.records = 3, 3, 4
    table = format_table({"swe-smith": c})
    assert "swe-smith" in table and "x1" in table and "--assume-resolved" in table


def test_stats_of_a_canonical_file_count_the_rejects_beside_it(tmp_path, capsys):
    from srl_agent.cli import main
    from srl_agent.trajectory.importer import import_trajectories

    good = {"instance_id": "a", "messages": [{"role": "user", "content": TASK}, {
        "role": "assistant", "content": "<function=bash>\n<parameter=command>ls</parameter>\n</function>"}]}
    qa = {"instance_id": "b", "messages": [{"role": "user", "content": TASK}, {
        "role": "assistant", "content": "It is fixed.\n<function=submit>\n</function>"}]}
    src = tmp_path / "rows.jsonl"
    src.write_text(json.dumps(good) + "\n" + json.dumps(qa) + "\n")
    out = tmp_path / "out.jsonl"
    import_trajectories([str(src)], out, workers=1)
    assert main(["traj", "stats", str(out), "--json"]) == 0
    by = json.loads(capsys.readouterr().out)["by_source_format"]["swe-smith"]
    assert (by["records"], by["accepted"], by["rejected"], by["steps"], by["unknown_resolution"]) == (2, 1, 1, 1, 1)
    assert list(by["rejected_by_reason"]) == ["steps: no environment action (only submit): a question-and-answer "
                                              "session, not an agent trajectory"]
