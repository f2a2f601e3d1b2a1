"""`srl traces view` through the real entry point: run directories, every real file of the shared corpus (any
importable format goes through the trajectory importer), predictions, gold patches from a suite, and the
mistakes a user makes, each a one-line error."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from samples import GOLD, expert_trajectory, trajectory_file, view_cli, write_run

from srl_agent.cli import main
from srl_agent.errors import InputError
from srl_agent.trajectory import read_trajectories
from srl_agent.trajectory.importer import import_trajectories

CORPUS_FILES = ["swe-agent/function_calling_simple.traj", "swe-agent/humanevalfix-python-0.traj",
                "swe-agent/marshmallow-1867.default.traj", "swe-agent/marshmallow-1867.function_calling_replace.traj",
                "swe-agent/marshmallow-1867.xml_window100.traj", "swe-agent/pydicom__pydicom-1458.traj",
                "swe-agent/swe-agent__test-repo-i1.traj", "swe-smith/pandas-dev__pandas.95280573.pr_53856.traj",
                "swe-smith/ft_xml_example.jsonl", "swe-smith/hf_rows_sample.json",
                "mini-swe-agent/github_issue.traj.json", "mini-swe-agent/local.traj.json",
                "mini-swe-agent/kwai_swe_smith_plus_sample.json", "openhands/events.basic.json",
                "openhands/resolver_output.jsonl"]


def _names(html: str) -> list[str]:
    return re.findall(r'<tr data-target="task-\d+" data-status="\w+"><td><a href="#task-\d+">(.*?)</a>', html)


def test_cli_renders_a_run_with_expert_annotation_and_a_trajectory_file(tmp_path):
    write_run(tmp_path / "run")
    expert = trajectory_file(tmp_path / "expert.jsonl")
    assert view_cli(["traces", "view", str(tmp_path / "run"), "-o", str(tmp_path / "r.html"), "--expert",
                     str(expert)]) == 0
    html = (tmp_path / "r.html").read_text()
    assert html.count('class="step"') == 8 and html.count('<section class="task') == 2
    assert 'class="expert"' in html and "step reward" in html
    assert view_cli(["traces", "view", str(expert), "-o", str(tmp_path / "t.html")]) == 0
    html = (tmp_path / "t.html").read_text()
    assert html.count('class="step"') == 2 and "expert (test)" in html


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_every_real_corpus_file_renders_through_the_srl_entry_point(corpus, tmp_path, name, capsys):
    src = corpus / name
    import_trajectories([str(src)], tmp_path / "ref.jsonl", workers=1)
    reference = list(read_trajectories(tmp_path / "ref.jsonl"))
    assert main(["traces", "view", str(src), "-o", str(tmp_path / "v.html")]) == 0
    html = (tmp_path / "v.html").read_text(encoding="utf-8")
    assert html.count('<section class="task') == len(reference)
    assert html.count('<details class="step"') == sum(len(t.steps) for t in reference)
    assert html.count('class="show-prompt"') == sum(len(t.steps) for t in reference)
    names = _names(html)
    assert len(names) == len(reference) and len(set(names)) == len(names)
    assert "Traceback" not in capsys.readouterr().err


def test_the_whole_corpus_folder_renders_with_the_rejects_named(corpus, tmp_path, capsys):
    """The corpus grows (issue 13 added files), so the expected counts come from the importer, not constants."""
    import_trajectories([str(corpus)], tmp_path / "ref.jsonl", workers=1)
    reference = list(read_trajectories(tmp_path / "ref.jsonl"))
    graded = [t for t in reference if t.resolved is not None]
    resolved = sum(bool(t.resolved) for t in graded)
    capsys.readouterr()
    assert main(["traces", "view", str(corpus), "-o", str(tmp_path / "all.html")]) == 0
    html = (tmp_path / "all.html").read_text(encoding="utf-8")
    names = _names(html)
    assert len(names) == len(reference) >= 26 and len(set(names)) == len(names)
    assert "marshmallow-code__marshmallow-1867 · marshmallow-1867.xml_window100.traj" in names
    assert f"<b>{resolved} / {len(graded)}</b><span>resolved / graded" in html
    assert f"<b>{len(reference) - len(graded)}</b><span>ungraded" in html
    assert "rejected 30 records of swe_bench_predictions.json (#0, #1, #2, #3, #4, ...) [model_patch]" in html
    err = capsys.readouterr().err
    assert "note: rejected 30 records of swe_bench_predictions.json" in err and "Traceback" not in err


def test_swe_bench_predictions_render_as_patches(corpus, tmp_path):
    assert main(["traces", "view", str(corpus / "openhands/swe_bench_predictions.json"), "-o",
                 str(tmp_path / "p.html")]) == 0
    html = (tmp_path / "p.html").read_text(encoding="utf-8")
    rows = json.loads((corpus / "openhands/swe_bench_predictions.json").read_text())
    assert html.count('<section class="task') == len(rows) == 30
    assert "<th>instance</th><th>model</th><th>status</th><th>final patch</th>" in html
    assert "<b>30</b><span>ungraded (not graded here)" in html


def test_other_formats_import_through_the_viewer_too(tmp_path):
    """A nebius/SWE-agent-trajectories row (ai messages with a fenced command) as a user downloads it."""
    row = {"instance_id": "astropy__astropy-1", "model_name": "swe-agent-llama", "target": True,
           "exit_status": "submitted", "generated_patch": GOLD, "eval_logs": "",
           "trajectory": [{"role": "system", "text": "You are an autonomous programmer."},
                          {"role": "user", "text": "We're currently solving the following issue: add() subtracts"},
                          {"role": "ai", "text": "Let me look.\n```\nfind_file calc.py\n```"},
                          {"role": "user", "text": "Found 1 matches"},
                          {"role": "ai", "text": "Done.\n```\nsubmit\n```"}]}
    src = tmp_path / "nebius.jsonl"
    src.write_text(json.dumps(row) + "\n")
    assert main(["traces", "view", str(src), "-o", str(tmp_path / "n.html")]) == 0
    html = (tmp_path / "n.html").read_text()
    assert html.count('<details class="step"') == 2 and '<b class="tool">find_file</b>' in html
    assert "<b>1 / 1</b><span>resolved / graded" in html


def test_gold_patches_come_from_the_runs_task_suite_or_tasks(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"instance_id": i, "problem_statement": "p", "patch": GOLD}) + "\n"
                             for i in ("demo__calc-1", "demo__calc-2")))
    run = tmp_path / "run"
    write_run(run)
    (run / "config.json").write_text(json.dumps({"schema": "srl-eval-config/1", "tasks": str(tasks)}))
    assert main(["traces", "view", str(run), "-o", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").read_text().count('<pre class="diff gold">') == 2
    expert = trajectory_file(tmp_path / "e.jsonl", [expert_trajectory(gold=None)])
    assert main(["traces", "view", str(expert), "-o", str(tmp_path / "e.html"), "--tasks", str(tasks)]) == 0
    assert (tmp_path / "e.html").read_text().count('<pre class="diff gold">') == 1
    (run / "config.json").write_text(json.dumps({"tasks": "no-such-suite"}))
    assert main(["traces", "view", str(run), "-o", str(tmp_path / "r2.html")]) == 0
    assert "gold patches not shown: the run&#x27;s tasks &#x27;no-such-suite&#x27;" in (tmp_path / "r2.html").read_text()


def test_limit_says_what_it_left_out(tmp_path):
    src = trajectory_file(tmp_path / "e.jsonl", [expert_trajectory(f"t-{i}") for i in range(5)])
    assert main(["traces", "view", str(src), "-o", str(tmp_path / "e.html"), "--limit", "2"]) == 0
    html = (tmp_path / "e.html").read_text()
    assert html.count('<section class="task') == 2 and "showing the first 2 of 5 (pass --limit 0 to show all)" in html


def test_user_mistakes_are_one_line_errors(tmp_path, capsys):
    from srl_agent.traces.report import load_report

    with pytest.raises(InputError, match="srl eval"):
        load_report(tmp_path / "missing")
    png = tmp_path / "picture.json"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    empty = tmp_path / "empty"
    empty.mkdir()
    trajectory_file(tmp_path / "ok.jsonl")
    cases = [
        ([str(tmp_path / "missing")], "no such file or folder"),
        ([str(png)], "nothing to show: no record imports as a trajectory (picture.json#0: bytes at offset 0"),
        ([str(empty)], "no trajectory files there"),
        ([str(tmp_path / "ok.jsonl"), "-o", str(tmp_path)], "is a folder; give a file name"),
        ([str(tmp_path / "ok.jsonl"), "-o", str(png / "x.html")], "is a file, so no folder can be made under it"),
        ([str(tmp_path / "ok.jsonl"), "--limit", "-1"], "argument --limit: must be 0 or more"),
        ([str(tmp_path / "ok.jsonl"), "--expert", str(tmp_path / "nope.jsonl")], "--expert"),
    ]
    for argv, message in cases:
        if "-o" not in argv:
            argv = argv + ["-o", str(tmp_path / "out.html")]
        assert main(["traces", "view", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, (argv, err)
