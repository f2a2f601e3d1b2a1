"""Every real file of the shared corpus imports without loss: step counts derived from the source's own fields."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from srl_agent.actions import BASH, EDITOR, SUBMIT
from srl_agent.trajectory import read_trajectories
from srl_agent.trajectory.importer import import_trajectories

MINI_MARKER = re.compile(r"echo (MINI_SWE_AGENT_FINAL_OUTPUT|COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT)")

# Literal per-record step counts (pinned: a change here is a change in what the importers produce).
EXPECTED = {
    "swe-agent/function_calling_simple.traj": [5],
    "swe-agent/humanevalfix-python-0.traj": [5],
    "swe-agent/marshmallow-1867.default.traj": [14],
    "swe-agent/marshmallow-1867.function_calling_replace.traj": [11],
    "swe-agent/marshmallow-1867.xml_window100.traj": [11],
    "swe-agent/pydicom__pydicom-1458.traj": [12],
    "swe-agent/swe-agent__test-repo-i1.traj": [5],
    "swe-smith/pandas-dev__pandas.95280573.pr_53856.traj": [17],
    "swe-smith/ft_xml_example.jsonl": [37, 44, 22],
    "swe-smith/hf_rows_sample.json": [15, 23, 18, 22, 38],
    "mini-swe-agent/github_issue.traj.json": [10],
    "mini-swe-agent/local.traj.json": [2],
    "mini-swe-agent/kwai_swe_smith_plus_sample.json": [29, 18, 20, 14, 38],
    "openhands/events.basic.json": [2],
    "openhands/resolver_output.jsonl": [4, 22],
}
FORMATS = {"swe-agent": "swe-agent", "swe-smith/p": "swe-agent", "swe-smith/f": "swe-smith",
           "swe-smith/h": "swe-smith", "mini-swe-agent": "mini-swe-agent", "openhands/e": "openhands-events",
           "openhands/r": "openhands-output"}


def _source_counts(path) -> list[int]:
    """Count the actions each record recorded, straight from the source fields (not via our importers)."""
    name = path.name
    text = path.read_text()
    if name.endswith(".traj"):
        d = json.loads(text)
        if "trajectory" in d:
            return [sum(1 for t in d["trajectory"] if t["action"].strip())]
        return [sum(1 for m in d["history"] if m["role"] == "assistant" and m.get("action", "").strip())]
    if name == "ft_xml_example.jsonl":
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        return [sum(1 for m in r["messages"] if m["role"] == "assistant" and "<function=" in m["content"])
                for r in rows]
    if name == "hf_rows_sample.json":
        return [sum(1 for m in json.loads(r["messages"]) if m["role"] == "assistant" and "<function=" in m["content"])
                for r in json.loads(text)]
    if path.parent.name == "mini-swe-agent":
        d = json.loads(text)
        convs = [d] if isinstance(d[0], dict) and "role" in d[0] else [r["messages"] for r in d]
        counts = []
        for msgs in convs:
            n = 0
            for m in msgs:
                if m["role"] != "assistant" or "```" not in m["content"]:
                    continue
                n += 1
                # `rm x && echo MINI_SWE_AGENT_FINAL_OUTPUT ...` is two actions: the cleanup, then the submit.
                hit = MINI_MARKER.search(m["content"])
                if hit and m["content"][:hit.start()].rstrip().endswith("&&"):
                    n += 1
            counts.append(n)
        return counts
    if name == "events.basic.json":
        return [sum(1 for e in json.loads(text) if e.get("source") == "agent" and e.get("action")
                    and e["action"] != "message")]
    if name == "resolver_output.jsonl":
        return [sum(1 for e in json.loads(line)["history"] if e.get("action") and e["action"] != "message")
                for line in text.splitlines() if line.strip()]
    raise AssertionError(f"no counting rule for {name}")


@pytest.fixture(scope="module")
def imported(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    # The files of the original corpus only: files added later are pinned in test_traj_real_files.py.
    files = [str(corpus / rel) for rel in sorted(EXPECTED)] + [str(corpus / "openhands/swe_bench_predictions.json")]
    summary = import_trajectories(files, out, workers=1)
    by_file: dict[str, list] = {}
    for t in read_trajectories(out):
        rel = t.source.file.split("corpus/", 1)[1]
        by_file.setdefault(rel, []).append(t)
    return summary, by_file, out


def test_every_corpus_trajectory_file_is_covered(corpus):
    from test_traj_real_files import REAL

    files = {str(p.relative_to(corpus)) for p in corpus.rglob("*") if p.is_file()}
    files -= {"MANIFEST.tsv", "README.md", "openhands/swe_bench_predictions.json"}
    assert files - set(REAL) == set(EXPECTED)


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_corpus_step_counts_match_the_source(rel, imported, corpus):
    _, by_file, _ = imported
    trajs = sorted(by_file[rel], key=lambda t: t.source.index)
    counts = [len(t.steps) for t in trajs]
    assert counts == _source_counts(corpus / rel)
    assert counts == EXPECTED[rel]
    fmt = next(v for k, v in FORMATS.items() if rel.startswith(k))
    assert {t.source.format for t in trajs} == {fmt}
    for t in trajs:
        assert t.task.problem_statement.strip()
        assert t.steps[-1].action.tool == SUBMIT


def test_corpus_import_summary_counts_records(imported):
    summary, by_file, _ = imported
    assert summary.accepted == sum(len(v) for v in by_file.values()) == 26
    # The SWE-bench predictions file is grading input, not trajectories: its 30 rows are rejected by name.
    assert summary.rejected == 30 and summary.reasons == Counter({"model_patch": 30})
    assert summary.accepted + summary.rejected == summary.read
    assert summary.steps == sum(sum(c) for c in EXPECTED.values())


def test_swe_agent_trajectory_fields_are_kept_verbatim(imported, corpus):
    _, by_file, _ = imported
    rel = "swe-agent/marshmallow-1867.default.traj"
    src = json.loads((corpus / rel).read_text())["trajectory"]
    (t,) = by_file[rel]
    for item, step in zip(src, t.steps):
        assert step.observation == item["observation"]
        assert step.thought == item["thought"].strip()
        if item["action"].strip() != "submit":
            assert step.action.tool == BASH and step.action.args["command"] == item["action"].rstrip("\n")
    assert t.patch == json.loads((corpus / rel).read_text())["info"]["submission"]


def test_function_calling_traj_uses_structured_editor_and_bash_calls(imported, corpus):
    _, by_file, _ = imported
    rel = "swe-smith/pandas-dev__pandas.95280573.pr_53856.traj"
    d = json.loads((corpus / rel).read_text())
    names = [m["tool_calls"][0]["function"]["name"] for m in d["history"] if m.get("tool_calls")]
    (t,) = by_file[rel]
    assert [s.action.tool for s in t.steps] == names
    first_edit = next(s for s in t.steps if s.action.tool == EDITOR)
    assert first_edit.action.args == {"command": "view", "path": "/testbed/pandas/io/sql.py"}


def test_swe_agent_commands_stay_verbatim_bash(imported):
    _, by_file, _ = imported
    (t,) = by_file["swe-agent/marshmallow-1867.function_calling_replace.traj"]
    cmds = [s.action.args.get("command", "") for s in t.steps]
    assert cmds[0] == "create reproduce.py"
    assert any(c.startswith("find_file") for c in cmds) and any(c.startswith("edit ") for c in cmds)


def test_swe_smith_hf_rows_keep_resolved_patch_and_ids(imported, corpus):
    _, by_file, _ = imported
    rows = json.loads((corpus / "swe-smith/hf_rows_sample.json").read_text())
    trajs = sorted(by_file["swe-smith/hf_rows_sample.json"], key=lambda t: t.source.index)
    for row, t in zip(rows, trajs):
        assert t.task.instance_id == row["instance_id"]
        assert t.resolved is True and t.patch == (row["patch"] or None)
        assert t.meta["traj_id"] == row["traj_id"]


def test_mini_swe_agent_final_echo_is_submit_and_returncode_is_exit_code(imported):
    _, by_file, _ = imported
    (t,) = by_file["mini-swe-agent/github_issue.traj.json"]
    assert t.steps[-1].action.tool == SUBMIT
    assert t.steps[-1].observation.startswith("diff --git")
    assert t.steps[0].exit_code == 1 and t.steps[1].exit_code == 0
    assert not t.steps[0].observation.startswith("<returncode>")
    kwai = sorted(by_file["mini-swe-agent/kwai_swe_smith_plus_sample.json"], key=lambda t: t.source.index)
    cleanup = kwai[2].steps[-2]
    assert cleanup.action.tool == BASH and cleanup.action.args["command"].startswith("rm ")
    assert "MINI_SWE_AGENT_FINAL_OUTPUT" not in cleanup.action.args["command"]


def test_openhands_events_and_output(imported):
    _, by_file, _ = imported
    (ev,) = by_file["openhands/events.basic.json"]
    assert [s.action.tool for s in ev.steps] == [EDITOR, SUBMIT]
    assert ev.steps[0].action.args["command"] == "create"
    assert ev.steps[0].observation.startswith("--- /workspace/game_2048.py")
    out = sorted(by_file["openhands/resolver_output.jsonl"], key=lambda t: t.source.index)
    assert out[0].task.instance_id == "neubig__pr-viewer-5" and out[0].resolved is True
    assert out[0].steps[0].action.args == {"command": "touch LICENSE"} and out[0].steps[0].exit_code == 0
    assert out[0].steps[1].action.tool == "execute_ipython_cell"
    assert out[0].patch.startswith("diff --git")


def test_xml_calls_are_read_like_swe_agents_parser(imported, corpus):
    """SWE-agent strips XML parameter values before running them; the expert action is what ran."""
    _, by_file, _ = imported
    rows = [json.loads(x) for x in (corpus / "swe-smith/ft_xml_example.jsonl").read_text().splitlines() if x.strip()]
    t = sorted(by_file["swe-smith/ft_xml_example.jsonl"], key=lambda t: t.source.index)[0]
    calls = [m["content"] for m in rows[0]["messages"] if m["role"] == "assistant"]
    edits = [(c, s) for c, s in zip(calls, t.steps) if s.action.args.get("command") == "str_replace"]
    assert edits
    for content, step in edits:
        raw = re.search(r"<parameter=old_str>(.*?)</parameter>", content, re.DOTALL).group(1)
        assert raw.startswith("\n") and step.action.args["old_str"] == raw.strip()
        assert "<function=" not in step.thought and step.thought == step.thought.strip()


def test_corpus_split_uses_resolved_trajectories_by_default(imported, tmp_path):
    import datasets

    from srl_agent.trajectory.split import SplitConfig, split_trajectories

    _, by_file, out = imported
    resolved_steps = sum(len(t.steps) for ts in by_file.values() for t in ts if t.resolved is True)
    s = split_trajectories(out, tmp_path / "ds", SplitConfig(workers=1))
    assert s.examples == resolved_steps == 142 and s.unresolved_skipped == 19
    s_all = split_trajectories(out, tmp_path / "all", SplitConfig(workers=1, include_unresolved=True,
                                                                  val_trajectories=3))
    dd = datasets.load_from_disk(str(tmp_path / "all"))
    assert s_all.examples == len(dd["train"]) + len(dd["validation"]) == 458
