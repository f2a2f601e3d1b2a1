"""Bad input never stops an import: each bad record is rejected with file, record and field; the rest goes on."""

from __future__ import annotations

import json

import pytest

from srl_agent.cli import main
from srl_agent.trajectory import read_trajectories
from srl_agent.trajectory.formats.base import MAX_OBSERVATION_CHARS
from srl_agent.trajectory.importer import import_trajectories


def _good(fixtures) -> str:
    return (fixtures / "swe_gym_sampled.jsonl").read_text().splitlines()[0]


def _run(tmp_path, lines: list[bytes | str], name="in.jsonl"):
    src = tmp_path / name
    src.write_bytes(b"\n".join(x.encode() if isinstance(x, str) else x for x in lines) + b"\n")
    out = tmp_path / "out.jsonl"
    summary = import_trajectories([str(src)], out, workers=1)
    rejects = [json.loads(x) for x in (tmp_path / "out.jsonl.rejects.jsonl").read_text().splitlines()] \
        if summary.rejected else []
    assert summary.accepted + summary.rejected == summary.read
    return summary, rejects, src


def _gym(fixtures, **changes) -> str:
    row = json.loads(_good(fixtures))
    for path, value in changes.items():
        target = row
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[int(k)] if isinstance(target, list) else target[k]
        last = keys[-1]
        if value is KeyError:
            del target[last]
        else:
            target[int(last) if isinstance(target, list) else last] = value
    return json.dumps(row)


CASES = {
    "truncated line": (lambda fx: _good(fx)[:300], "(json)"),
    "record not an object": (lambda fx: "[1, 2, 3]", "(record)"),
    "string record": (lambda fx: '"just text"', "(record)"),
    "missing messages": (lambda fx: json.dumps({"instance_id": "x", "messages": None, "run_id": 1}), "messages"),
    "mistyped role": (lambda fx: _gym(fx, messages__2__role=7), "messages[2].role"),
    "mistyped arguments": (lambda fx: _gym(fx, messages__2__tool_calls__0__function__arguments="{not json"),
                           "messages[2].tool_calls[0].function.arguments"),
    "bash call without command": (lambda fx: _gym(fx, messages__2__tool_calls__0__function__arguments="{}"),
                                  "messages[2].tool_calls[0].function.arguments.command"),
    "unknown tool": (lambda fx: _gym(fx, messages__2__tool_calls__0__function__name="launch_rockets"),
                     "messages[2].tool_calls[0].function"),
    "empty trajectory": (lambda fx: json.dumps({"instance_id": "x", "run_id": 1, "messages": [
        {"role": "user", "content": "fix it"}]}), "steps"),
    "no task text": (lambda fx: _gym(fx, messages__1__content=""), "problem_statement"),
    "non-utf8 bytes": (lambda fx: _good(fx).encode()[:120] + b"\xff\xfe" + _good(fx).encode()[120:], "(bytes)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_record_is_rejected_with_file_record_and_field(case, tmp_path, fixtures):
    make, field = CASES[case]
    summary, rejects, src = _run(tmp_path, [_good(fixtures), make(fixtures), _good(fixtures)])
    assert (summary.read, summary.accepted, summary.rejected) == (3, 2, 1)
    (rej,) = rejects
    assert rej["file"] == str(src) and rej["index"] == 1 and rej["field"] == field, rej
    assert rej["reason"]


def test_huge_observation_is_capped_not_rejected(tmp_path, fixtures):
    """Decision: a 50 MB observation keeps its trajectory; it is cut to head + tail with a marker."""
    row = json.loads(_good(fixtures))
    row["messages"][3]["content"] = "A" * (50 * 1024 * 1024) + "THE END"
    summary, rejects, _ = _run(tmp_path, [json.dumps(row)])
    assert summary.accepted == 1 and not rejects
    (t,) = read_trajectories(tmp_path / "out.jsonl")
    obs = t.steps[0].observation
    assert len(obs) <= MAX_OBSERVATION_CHARS and obs.endswith("THE END") and "characters omitted" in obs


def test_truncated_json_file_is_one_rejected_record_and_exit_code_1(tmp_path, fixtures, capsys):
    src = tmp_path / "cut.traj"
    src.write_text('{"trajectory": [{"action": "ls", "observation": "a"}], "hist')
    out = tmp_path / "o.jsonl"
    assert main(["traj", "import", str(src), "-o", str(out)]) == 1
    printed = capsys.readouterr()
    assert "accepted 0 / rejected 1 / total 1" in printed.out
    assert "Traceback" not in printed.out + printed.err
    (rej,) = [json.loads(x) for x in (tmp_path / "o.jsonl.rejects.jsonl").read_text().splitlines()]
    assert rej["file"] == str(src) and rej["index"] == 0 and "truncated" in rej["reason"]


def test_partial_success_exits_0_and_prints_the_summary(tmp_path, fixtures, capsys):
    src = tmp_path / "mixed.jsonl"
    src.write_text(_good(fixtures) + "\n{oops\n")
    assert main(["traj", "import", str(src), "-o", str(tmp_path / "o.jsonl")]) == 0
    assert "accepted 1 / rejected 1 / total 2" in capsys.readouterr().out


def test_unreadable_input_is_one_line_error(tmp_path, capsys):
    """A missing or empty input is a usage error (exit 2), not a failed run."""
    assert main(["traj", "import", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "Traceback" not in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["traj", "import", str(empty), "-o", str(tmp_path / "o.jsonl")]) == 2


def test_unknown_forced_format_is_a_user_error(tmp_path, fixtures, capsys):
    assert main(["traj", "import", str(fixtures), "-o", str(tmp_path / "o.jsonl"), "--format", "nope"]) == 2
    assert "unknown format" in capsys.readouterr().err


def test_truncated_last_line_of_jsonl_keeps_the_rest(tmp_path, fixtures):
    text = "\n".join([_good(fixtures)] * 3)
    src = tmp_path / "cut.jsonl"
    src.write_text(text[: len(text) - 100])
    summary = import_trajectories([str(src)], tmp_path / "o.jsonl", workers=1)
    assert (summary.accepted, summary.rejected, summary.read) == (2, 1, 3)
