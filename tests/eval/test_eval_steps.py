"""`srl eval-steps -o`: every example's prompt, completion, parsed action (or format error), expert action and
reward written to examples.jsonl beside the totals, through the real CLI against a served model, and the
viewer's step-level page of them."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from srl_agent.actions import Action, format_completion
from srl_agent.cli import main
from srl_agent.reward import step_reward
from srl_agent.traces.step_results import StepResult, read_step_results

EXPERT = [Action.bash("ls"), Action.bash("cat setup.py"), Action.submit()]
# What the served model answers, by the last word of the task message: right, close, malformed.
ANSWERS = {"step-0": format_completion("look", Action.bash("ls")),
           "step-1": format_completion("read it", Action.bash("cat setup.cfg")),
           "step-2": "I am done </script><b>now</b>"}


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.prompts.append(body["messages"])
        text = ANSWERS[body["messages"][1]["content"].split()[-1]]
        raw = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def served():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.prompts = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _dataset(path):
    from datasets import Dataset, DatasetDict

    prompts = [[{"role": "system", "content": "s"}, {"role": "user", "content": f"fix it <i>please</i> step-{k}"}]
               for k in range(3)]
    rows = {"prompt": prompts, "expert_action": [a.render() for a in EXPERT], "expert_thought": ["t0", "t1", "t2"],
            "instance_id": ["demo__calc-1"] * 3, "step_index": [0, 1, 2], "num_steps": [3] * 3,
            "tool": [a.tool for a in EXPERT], "trajectory": [0] * 3, "source": ["expert.jsonl#0"] * 3}
    DatasetDict({"train": Dataset.from_dict(rows), "validation": Dataset.from_dict(rows)}).save_to_disk(path)
    return rows


def _argv(served, data, out):
    url = f"http://127.0.0.1:{served.server_address[1]}/v1"
    return ["eval-steps", "--policy", "openai", "--model", "m", "--base-url", url, "--data", str(data),
            "--batch-size", "2", "-o", str(out)]


def test_eval_steps_writes_every_example_and_the_viewer_opens_it(served, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    rows = _dataset(tmp_path / "d")
    assert main(_argv(served, tmp_path / "d", tmp_path / "out")) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    results = list(read_step_results(tmp_path / "out" / "examples.jsonl"))
    assert summary["examples"] == len(results) == 3 and summary["examples_file"] == "examples.jsonl"
    assert summary["parse_rate"] == pytest.approx(2 / 3)
    assert summary["mean_reward"] == pytest.approx(sum(r.reward for r in results) / 3)
    assert [r.prompt for r in results] == rows["prompt"]
    assert sorted(map(json.dumps, served.prompts)) == sorted(map(json.dumps, rows["prompt"]))
    exact, close, bad = results
    assert exact.completion == ANSWERS["step-0"] and exact.action == Action.bash("ls").render()
    assert exact.reward == 1.0 and exact.status == "exact" and exact.expert_thought == "t0"
    assert close.action == Action.bash("cat setup.cfg").render() and close.status == "partial"
    assert close.reward == pytest.approx(step_reward(ANSWERS["step-1"], EXPERT[1].render()))
    assert bad.action is None and bad.format_error == "output must start with <think>" and bad.reward == -1.0
    assert (bad.expert_action, bad.step_index, bad.num_steps, bad.tool, bad.source) == \
        (EXPERT[2].render(), 2, 3, "submit", "expert.jsonl#0")
    assert "wrote" in capsys.readouterr().out

    assert main(["traces", "view", str(tmp_path / "out"), "-o", str(tmp_path / "steps.html")]) == 0
    html = (tmp_path / "steps.html").read_text()
    assert html.count('<article class="example unit"') == 3
    assert '<span class="badge exact">exact</span>' in html and '<span class="badge malformed">malformed</span>' in html
    assert 'cat setup.<del class="d">cfg</del>' in html and 'cat setup.<ins class="i">py</ins>' in html
    assert "reward <span class=\"reward\">1.000</span>" in html
    assert "<b>0.667</b>" not in html and "<b>66.7%</b><span>parse rate</span>" in html
    assert "</script><b>now</b>" not in html and "I am done &lt;/script&gt;&lt;b&gt;now&lt;/b&gt;" in html


def test_eval_steps_json_output_keeps_its_totals_and_puts_the_examples_beside_it(served, tmp_path, monkeypatch):
    """`-o FILE.json` (the demo's form) still gets the totals there; the examples go to FILE.examples.jsonl."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    _dataset(tmp_path / "d")
    assert main(_argv(served, tmp_path / "d", tmp_path / "steps_before.json")) == 0
    totals = json.loads((tmp_path / "steps_before.json").read_text())
    assert totals["schema"] == "srl-eval-steps/1" and totals["examples"] == 3
    assert set(totals["by_tool"]) == {"bash", "submit"}
    assert totals["examples_file"] == "steps_before.examples.jsonl"
    assert len(list(read_step_results(tmp_path / "steps_before.examples.jsonl"))) == 3
    for target in ("steps_before.json", "steps_before.examples.jsonl"):
        assert main(["traces", "view", str(tmp_path / target), "-o", str(tmp_path / "v.html")]) == 0
        assert (tmp_path / "v.html").read_text().count('<article class="example unit"') == 3


def test_step_result_lines_are_versioned_and_checked(tmp_path):
    from srl_agent.errors import InputError

    good = StepResult(0, [{"role": "user", "content": "u"}], "out", Action.bash("ls").render(), -1.0,
                      format_error="x").to_dict()
    path = tmp_path / "examples.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "schema": "other"}) + "\n")
    with pytest.raises(InputError, match=r"examples.jsonl:2: not a step result \(schema 'other'"):
        list(read_step_results(path))


def test_an_unwritable_output_is_refused_before_the_model_loads(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    from srl_agent.train.fixtures import step_dataset

    step_dataset().save_to_disk(str(tmp_path / "steps"))
    argv = ["eval-steps", "--policy", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
            "--data", str(tmp_path / "steps"), "-o", str(blocker / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "-o " in err and "is a file, so no folder can be made under it" in err and "Traceback" not in err
