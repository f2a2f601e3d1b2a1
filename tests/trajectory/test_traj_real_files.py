"""Real published files added for issue 13: step counts from each format's own definition, and each class of loss.

The files are listed with their provenance in real_files.tsv (beside this file) and live in the trajectory corpus
(../shared/corpus, or the folder SRL_TRAJ_CORPUS names); a file the corpus does not hold yet is skipped, by name.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from source_counts import counter_for
from srl_agent.actions import BASH, SUBMIT
from srl_agent.trajectory import read_trajectories
from srl_agent.trajectory.accounting import ASSUMED
from srl_agent.trajectory.importer import import_trajectories

MANIFEST = Path(__file__).parent / "real_files.tsv"
REAL = {row["file"]: row for row in csv.DictReader(MANIFEST.open(encoding="utf-8"), delimiter="\t")}

# Per file: the importer, the step counts of the accepted records (in order), and the rejected records by index
# with a piece of the reason. Pinned: a change here is a change in what the importers produce.
EXPECTED = {
    "swe-agent/6e44b9__sweagenttestrepo-1c2844.traj": ("swe-agent", [5], {}),
    "swe-agent/marshmallow-1867.function_calling.traj": ("swe-agent", [11], {}),
    "swe-agent/marshmallow-1867.default_cursors_window100.traj": ("swe-agent", [12], {}),
    "swe-smith/5k_sample_raw.2rows.json": ("swe-smith", [9, 35], {}),
    "swe-smith/5k_sample_raw.5rows.json": ("swe-smith", [28, 30, 29, 24, 45], {}),
    "mini-swe-agent/deepseek-reasoner.sqlfluff-2419.traj.json": ("mini-swe-agent", [55], {}),
    "mini-swe-agent/deepseek-reasoner.pvlib-1606.traj.json": ("mini-swe-agent", [4], {}),
    "mini-swe-agent/local_run.traj.json": ("mini-swe-agent", [10], {}),
    "openhands/events.basic_gui_mode.json": ("openhands-events", [4], {}),
    "openhands/events.wrong_initial_state.json": ("openhands-events", [4], {}),
    "openhands/events.basic_interactions.json": ("openhands-events", [], {0: "no environment action"}),
    "openhands/resolver_output.2024-11.jsonl": ("openhands-output", [4, 22], {}),
    "openhands/multi_swe_bench_output.jsonl": ("openhands-output", [23, 33, 49], {}),
    "openhands/feedback_2024.5rows.json": ("openhands-feedback", [17, 11, 23, 13], {2: "no environment action"}),
    "openhands/feedback_2024.3rows.json": ("openhands-feedback", [7], {0: "has no actions",
                                                                       2: "unknown tool 'task_plan'"}),
    "openhands/feedback_2024.1row.json": ("openhands-feedback", [1], {}),
    "nebius/sample_raw.resolved.json": ("nebius", [6, 14, 5, 8, 16], {}),
    "nebius/sample_raw.unresolved.json": ("nebius", [46, 25, 29], {}),
    "swe-gym/sampled_sample_raw.3rows.json": ("swe-gym", [6, 4, 4], {}),
    "swe-gym/sampled_sample_raw.5rows.json": ("swe-gym", [15, 8, 11, 11, 11], {}),
    "openhands-sft/adp_swe_gym_sft_openhands.json": ("openhands-sft", [21, 9, 11, 17, 30], {}),
    "openhands-sft/swe_play_sample_raw.first2.json": ("openhands-sft", [21, 22], {}),
}


def _real(corpus: Path, rel: str) -> Path:
    path = corpus / rel
    if not path.is_file():
        pytest.skip(f"{rel} is not in the corpus at {corpus} yet (provenance in {MANIFEST.name}; copy it there)")
    return path


def _import(tmp_path: Path, path: Path, **kw) -> tuple:
    out = tmp_path / "out.jsonl"
    summary = import_trajectories([str(path)], out, workers=1, **kw)
    trajs = sorted(read_trajectories(out), key=lambda t: t.source.index) if summary.accepted else []
    rejects = {}
    if summary.rejected:
        for line in Path(summary.rejects).read_text().splitlines():
            r = json.loads(line)
            rejects[r["index"]] = r
    return summary, trajs, rejects


def test_every_new_real_file_has_expectations_and_provenance():
    assert set(EXPECTED) == set(REAL)
    for row in REAL.values():
        assert row["source_repo"].count("/") == 1 and len(row["commit"]) >= 8 and len(row["sha256"]) == 64


@pytest.mark.parametrize("rel", sorted(REAL))
def test_copy_matches_its_manifest_checksum(rel, corpus):
    assert hashlib.sha256(_real(corpus, rel).read_bytes()).hexdigest() == REAL[rel]["sha256"]


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_real_file_step_counts_match_the_formats_own_count(rel, corpus, tmp_path):
    path = _real(corpus, rel)
    fmt, counts, rejected = EXPECTED[rel]
    summary, trajs, rejects = _import(tmp_path, path)
    independent = counter_for(rel)(path)
    accepted_idx = [i for i in range(len(independent)) if i not in rejected]
    assert [len(t.steps) for t in trajs] == counts == [independent[i] for i in accepted_idx]
    assert [t.source.index for t in trajs] == accepted_idx
    assert {t.source.format for t in trajs} <= {fmt}
    assert {i: r["format"] for i, r in rejects.items()} == {i: fmt for i in rejected}
    for i, piece in rejected.items():
        assert piece in rejects[i]["reason"], rejects[i]
        if independent[i] is None:  # the format's own definition says: no environment action in this record
            assert rejects[i]["field"] == "steps"
    assert summary.steps == sum(counts) and summary.read == len(independent)
    for t in trajs:
        assert t.task.problem_statement.strip()
        assert any(s.action.tool not in (SUBMIT, "think") for s in t.steps)


def test_reasoning_models_thoughts_come_from_reasoning_content(corpus, tmp_path):
    """mini-swe-agent v2 with deepseek-reasoner: `content` is empty, the thought is in `reasoning_content`."""
    path = _real(corpus, "mini-swe-agent/deepseek-reasoner.sqlfluff-2419.traj.json")
    src = json.loads(path.read_text())
    _, (t,), _ = _import(tmp_path, path)
    said = [m["reasoning_content"].strip() for m in src["messages"] if m["role"] == "assistant"]
    assert all(not m["content"] for m in src["messages"] if m["role"] == "assistant")
    assert [s.thought for s in t.steps] == said
    assert sum(1 for s in t.steps if not s.thought) == said.count("") == 1
    assert t.steps[-1].action.tool == SUBMIT and t.steps[0].exit_code == 0
    assert t.patch == src["info"]["submission"] and t.meta["patch_from"] == "info.submission"
    assert t.meta["exit_status"] == "Submitted"


def test_unsubmitted_v2_run_keeps_no_patch_and_its_exit_status(corpus, tmp_path):
    _, (t,), _ = _import(tmp_path, _real(corpus, "mini-swe-agent/deepseek-reasoner.pvlib-1606.traj.json"))
    assert t.patch is None and t.meta["exit_status"] == "InternalServerError"
    assert t.steps[-1].action.tool == BASH and all(s.thought for s in t.steps)


def test_older_nano_marker_is_the_submit_and_its_message_the_patch(corpus, tmp_path):
    _, (t,), _ = _import(tmp_path, _real(corpus, "mini-swe-agent/local_run.traj.json"))
    assert t.steps[-1].action.tool == SUBMIT
    assert t.patch.startswith("diff --git") and t.meta["patch_from"] == "submission message"


def test_swe_gym_keeps_test_result_git_patch_and_resolved(corpus, tmp_path):
    path = _real(corpus, "swe-gym/sampled_sample_raw.5rows.json")
    rows = json.loads(path.read_text())
    _, trajs, _ = _import(tmp_path, path)
    for row, t in zip(rows, trajs):
        assert t.resolved is row["resolved"] is True and t.meta["resolved_from"] == "resolved"
        assert t.patch == row["test_result"]["git_patch"] and t.meta["patch_from"] == "test_result.git_patch"
    _, unresolved, _ = _import(tmp_path, _real(corpus, "swe-gym/sampled_sample_raw.3rows.json"))
    assert [t.resolved for t in unresolved] == [False] * 3 and all(t.patch is None for t in unresolved)


def test_swe_smith_rows_without_a_flag_stay_unknown_unless_assumed_resolved(corpus, tmp_path):
    path = _real(corpus, "swe-smith/5k_sample_raw.5rows.json")
    summary, trajs, _ = _import(tmp_path, path)
    assert [t.resolved for t in trajs] == [None] * 5
    assert summary.by_format["swe-smith"].unknown_resolution == 5
    summary, trajs, _ = _import(tmp_path, path, assume_resolved=True)
    assert [t.resolved for t in trajs] == [True] * 5 and {t.meta["resolved_from"] for t in trajs} == {ASSUMED}
    assert summary.by_format["swe-smith"].assumed_resolved == 5
    # An explicit false is never overridden.
    _, neb, _ = _import(tmp_path, _real(corpus, "nebius/sample_raw.unresolved.json"), assume_resolved=True)
    assert [t.resolved for t in neb] == [False] * 3 and {t.meta["resolved_from"] for t in neb} == {"target"}


def test_openhands_feedback_rows_2024(corpus, tmp_path):
    """The feedback table: arguments under `extras`, `initialize` from the environment, a Q&A row rejected."""
    path = _real(corpus, "openhands/feedback_2024.5rows.json")
    rows = json.loads(path.read_text())
    _, trajs, rejects = _import(tmp_path, path)
    assert "no environment action" in rejects[2]["reason"]
    first = trajs[0]
    assert first.meta["feedback"] == "positive" and first.resolved is None
    assert first.task.problem_statement.startswith("Help check the logic of `build_runtime_image`")
    calls = [e for e in rows[0]["trajectory"] if e["action"] in ("run", "run_ipython")]
    ran = [s for s in first.steps if s.action.tool != SUBMIT]
    assert [s.action.args.get("code", s.action.args.get("command")) for s in ran] == \
        [e["extras"].get("code", e["extras"].get("command")) for e in calls]
    assert first.steps[0].thought == calls[0]["extras"]["thought"].strip()
    assert first.steps[0].observation.startswith("[File: /workspace/opendevin/runtime/utils/runtime_build.py")
    # Forcing the event-stream importer on the same rows gives the same steps.
    _, forced, _ = _import(tmp_path, path, fmt="openhands-events")
    assert [len(t.steps) for t in forced] == [len(t.steps) for t in trajs]


def test_openhands_feedback_native_events_exit_codes_and_matched_errors(corpus, tmp_path):
    _, (t,), _ = _import(tmp_path, _real(corpus, "openhands/feedback_2024.3rows.json"))
    runs = [s for s in t.steps if s.action.tool == BASH]
    assert runs[0].observation == "Command execution timed out" and runs[0].exit_code is None
    assert runs[1].exit_code == 0 and "errors_without_action" not in t.meta


def test_error_observation_without_an_action_is_kept_not_dropped(corpus, tmp_path):
    """A tool call that failed validation gets an `error` observation with no cause: kept as OpenHands shows it."""
    path = _real(corpus, "openhands/multi_swe_bench_output.jsonl")
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    _, trajs, _ = _import(tmp_path, path)
    for row, t in zip(rows, trajs):
        errors = [e["content"] for e in row["history"] if e.get("observation") == "error" and not e.get("cause")]
        assert t.meta.get("errors_without_action", 0) == len(errors)
        for text in errors:
            assert any(f"{text}\n[Error occurred in processing last action]" in s.observation for s in t.steps)
        assert t.patch == row["test_result"]["git_patch"]
    assert sum(t.meta.get("errors_without_action", 0) for t in trajs) == 2


def test_question_and_answer_session_is_rejected_with_a_reason(corpus, tmp_path):
    summary, _, rejects = _import(tmp_path, _real(corpus, "openhands/events.basic_interactions.json"))
    assert summary.accepted == 0 and rejects[0]["field"] == "steps"
    assert rejects[0]["reason"].startswith("no environment action (only submit)")


def test_sharegpt_conversations_and_in_context_examples(corpus, tmp_path):
    _, adp, _ = _import(tmp_path, _real(corpus, "openhands-sft/adp_swe_gym_sft_openhands.json"))
    assert adp[0].task.problem_statement.startswith("attrs & dataclasses false positive error with slots=True")
    assert adp[0].meta["id"] == "python__mypy-15976_0"
    _, play, _ = _import(tmp_path, _real(corpus, "openhands-sft/swe_play_sample_raw.first2.json"))
    for t in play:
        assert "START OF EXAMPLE" not in t.task.problem_statement
        assert t.task.problem_statement.startswith("You are now given a project directory")
        assert "<task_description>" in t.task.problem_statement


def test_stats_reports_per_source_format_what_was_lost(corpus, tmp_path, capsys):
    from srl_agent.cli import main

    files = [_real(corpus, rel) for rel in ("swe-smith/5k_sample_raw.2rows.json", "openhands/feedback_2024.5rows.json")]
    assert main(["traj", "stats", *map(str, files), "--json"]) == 0
    by = json.loads(capsys.readouterr().out)["by_source_format"]
    assert by["swe-smith"] == {"records": 2, "accepted": 2, "rejected": 0, "steps": 44, "empty_thoughts": 1,
                               "missing_patches": 2, "unknown_resolution": 2, "assumed_resolved": 0,
                               "rejected_by_reason": {}}
    fb = by["openhands-feedback"]
    assert (fb["records"], fb["accepted"], fb["rejected"], fb["steps"]) == (5, 4, 1, 64)
    assert list(fb["rejected_by_reason"]) == ["steps: no environment action (only submit): a question-and-answer "
                                              "session, not an agent trajectory"]
    assert main(["traj", "stats", *map(str, files)]) == 0
    table = capsys.readouterr().out
    assert "openhands-feedback" in table and "--assume-resolved" in table
