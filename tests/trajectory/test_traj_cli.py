"""`srl traj import | stats | show` end to end through the `srl` entry point, and the schema round trip."""

from __future__ import annotations

import json

import pytest

from srl_agent.actions import Action
from srl_agent.cli import main
from srl_agent.errors import InputError
from srl_agent.task import Task
from srl_agent.trajectory import SCHEMA, Source, Step, Trajectory, read_trajectories, write_trajectories


def test_schema_round_trip(tmp_path):
    t = Trajectory(Task("i-1", problem_statement="p", fail_to_pass=["t::a"]),
                   [Step("th", Action.editor("view", "/a.py", view_range="[1, 2]"), "obs", 0), Step("", Action.submit(), "")],
                   Source("swe-gym", "f.jsonl", 3), resolved=True, patch="diff", meta={"model": "m"})
    write_trajectories([t, t], tmp_path / "t.jsonl")
    first = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[0])
    assert first["schema"] == SCHEMA and first["source"] == {"format": "swe-gym", "file": "f.jsonl", "index": 3}
    back = list(read_trajectories(tmp_path / "t.jsonl"))
    assert back[0].to_dict() == t.to_dict() and len(back) == 2


def test_reading_a_non_canonical_file_names_the_line(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"schema": "srl-trajectory/1", "task": {"instance_id": "a"}}\n{"a": 1}\n')
    with pytest.raises(InputError, match=r"x.jsonl:1"):
        list(read_trajectories(tmp_path / "x.jsonl"))


def test_import_stats_show(tmp_path, fixtures, capsys):
    out = tmp_path / "t.jsonl"
    assert main(["traj", "import", str(fixtures), "-o", str(out)]) == 0
    assert "accepted 7 / rejected 0 / total 7" in capsys.readouterr().out
    assert main(["traj", "stats", str(out)]) == 0
    table = capsys.readouterr().out
    assert "trajectories 7" in table and "steps 26" in table and "str_replace_editor" in table and "p90" in table
    assert main(["traj", "stats", str(out), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["steps"] == 26 and sum(stats["tools"].values()) == 26
    assert main(["traj", "show", str(out), "--index", "3"]) == 0
    shown = capsys.readouterr().out
    assert "demo__calc-1" in shown and "step 5 · submit" in shown and "<function=bash>" in shown
    assert main(["traj", "show", str(out), "--index", "7"]) == 2
    assert "out of range" in capsys.readouterr().err
