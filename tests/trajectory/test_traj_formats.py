"""Importers for the formats with no corpus file (bundled fixtures), format detection, and the input kinds."""

from __future__ import annotations

import gzip
import json
import shutil

from srl_agent.actions import BASH, EDITOR, SUBMIT, Action
from srl_agent.trajectory import read_trajectories
from srl_agent.trajectory.formats import FORMATS, detect_format
from srl_agent.trajectory.importer import import_trajectories


def _import(tmp_path, *sources, fmt=None):
    out = tmp_path / "out.jsonl"
    summary = import_trajectories([str(s) for s in sources], out, fmt=fmt, workers=1)
    return summary, sorted(read_trajectories(out), key=lambda t: (t.source.file, t.source.index)) \
        if summary.accepted else []


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_swe_gym_sampled_tool_calls(tmp_path, fixtures):
    src = fixtures / "swe_gym_sampled.jsonl"
    summary, (a, b) = _import(tmp_path, src)
    rows = _rows(src)
    # One step per tool call of the assistant messages.
    assert [len(t.steps) for t in (a, b)] == [sum(len(m.get("tool_calls") or []) for m in r["messages"])
                                              for r in rows] == [6, 2]
    assert {t.source.format for t in (a, b)} == {"swe-gym"}
    assert [s.action.tool for s in a.steps] == [BASH, EDITOR, EDITOR, BASH, BASH, SUBMIT]
    assert a.steps[1].action.args == {"command": "view", "path": "/testbed/calc.py", "view_range": "[1, 5]"}
    # Tool replies are matched by tool_call_id, not by order.
    assert a.steps[3].observation == "3" and a.steps[4].observation.startswith("diff --git")
    assert a.resolved is True and b.resolved is False
    assert a.task.problem_statement == "Adding two numbers returns their difference."
    assert b.steps[0].observation == "1 failed"


def test_openhands_sft_xml_calls_and_execution_results(tmp_path, fixtures):
    summary, (t,) = _import(tmp_path, fixtures / "openhands_sft.jsonl")
    assert t.source.format == "openhands-sft"
    assert [s.action.tool for s in t.steps] == [BASH, EDITOR, SUBMIT]
    assert t.steps[0].observation.startswith("def add(a, b):")
    assert "EXECUTION RESULT" not in t.steps[1].observation
    # An assistant message without a call is kept as thought of the next step.
    assert t.steps[2].thought.startswith("I am thinking")
    assert t.task.problem_statement == "add() subtracts."


def test_nebius_last_fenced_block_and_target(tmp_path, fixtures):
    src = fixtures / "nebius.jsonl"
    summary, trajs = _import(tmp_path, src)
    rows = _rows(src)
    assert [len(t.steps) for t in trajs] == [sum(1 for i in r["trajectory"] if i["role"] == "ai") for r in rows]
    t = trajs[0]
    assert t.source.format == "nebius" and t.resolved is True and trajs[1].resolved is False
    assert t.steps[1].action == Action.bash("open calc.py")  # the last block of the message
    assert t.steps[2].action.args["command"] == "edit 2:2\n    return a + b\nend_of_edit"
    assert t.steps[-1].action.tool == SUBMIT
    assert t.task.problem_statement == "add() subtracts"
    assert t.patch.startswith("diff --git")


def test_swe_smith_ticks_and_tool_styles(tmp_path, fixtures):
    summary, (ticks, tool) = _import(tmp_path, fixtures / "swe_smith_ticks_tool.jsonl")
    assert ticks.task.instance_id == "demo__calc.ticks" and ticks.resolved is True and tool.resolved is False
    assert [s.action for s in ticks.steps] == [Action.bash("ls"), Action.bash("str_replace_editor view /testbed/calc.py"),
                                               Action(SUBMIT, {})]
    assert [s.action.tool for s in tool.steps] == [BASH, EDITOR, EDITOR, SUBMIT]
    assert tool.steps[2].action.args["insert_line"] == "2"
    assert tool.steps[0].observation == "calc.py"


def test_every_fixture_record_is_detected_as_its_format(fixtures):
    expected = {"swe_gym_sampled.jsonl": "swe-gym", "openhands_sft.jsonl": "openhands-sft",
                "nebius.jsonl": "nebius", "swe_smith_ticks_tool.jsonl": "swe-smith"}
    for name, fmt in expected.items():
        assert {detect_format(r) for r in _rows(fixtures / name)} == {fmt}
    assert set(FORMATS) >= set(expected.values()) | {"swe-agent", "mini-swe-agent", "openhands-events",
                                                     "openhands-output"}


def test_forced_format_overrides_detection(tmp_path, fixtures):
    summary, _ = _import(tmp_path, fixtures / "nebius.jsonl", fmt="swe-gym")
    assert summary.accepted == 0 and summary.rejected == 2


def test_gzip_parquet_arrow_and_saved_dataset_inputs(tmp_path, fixtures):
    import datasets

    src = fixtures / "swe_smith_ticks_tool.jsonl"
    with open(src, "rb") as fh, gzip.open(tmp_path / "rows.jsonl.gz", "wb") as gz:
        shutil.copyfileobj(fh, gz)
    ds = datasets.Dataset.from_list(_rows(src))
    ds.to_parquet(str(tmp_path / "rows.parquet"))
    ds.save_to_disk(str(tmp_path / "saved"))
    datasets.DatasetDict({"train": ds}).save_to_disk(str(tmp_path / "saved_dict"))
    arrow = next((tmp_path / "saved").glob("*.arrow"))
    for source in (tmp_path / "rows.jsonl.gz", tmp_path / "rows.parquet", tmp_path / "saved",
                   tmp_path / "saved_dict", arrow):
        summary, trajs = _import(tmp_path / source.name.replace(".", "_"), source)
        assert summary.accepted == 2 and summary.rejected == 0, source
        assert [len(t.steps) for t in trajs] == [3, 4]


def test_folder_input_and_worker_count_give_the_same_output(tmp_path, fixtures):
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    import_trajectories([str(fixtures)], a, workers=1)
    import_trajectories([str(fixtures)], b, workers=2)
    assert a.read_text() == b.read_text() and a.read_text().count("\n") == 7


def test_reimporting_canonical_output_is_lossless(tmp_path, fixtures):
    first = tmp_path / "first.jsonl"
    import_trajectories([str(fixtures)], first, workers=1)
    again = tmp_path / "again.jsonl"
    summary = import_trajectories([str(first)], again, workers=1)
    assert summary.formats == {"canonical": 7} and again.read_bytes() == first.read_bytes()


def test_xml_call_without_closing_tag_is_repaired(tmp_path):
    rec = {"instance_id": "x", "messages": [
        {"role": "user", "content": "<pr_description>\nfix\n</pr_description>"},
        {"role": "assistant", "content": "Look.\n<function=bash>\n<parameter=command>\nls -la\n</parameter>"},
        {"role": "user", "content": "OBSERVATION:\ntotal 0"},
        {"role": "assistant", "content": "<function=submit>\n</function>\n<function=bash>\n<parameter=command>rm -rf /</parameter>\n</function>"}]}
    src = tmp_path / "r.jsonl"
    src.write_text(json.dumps(rec) + "\n")
    summary, (t,) = _import(tmp_path, src)
    assert [s.action for s in t.steps] == [Action.bash("ls -la"), Action(SUBMIT, {})]  # first call, value stripped
    assert t.steps[0].thought == "Look." and t.steps[0].observation == "total 0"
