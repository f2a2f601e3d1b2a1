"""Policies: scripted fakes, the OpenAI-compatible HTTP client against a local server, the transformers one."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from srl_agent.actions import Action, parse_completion
from srl_agent.policy.base import GenerationConfig, PolicyError, generate_batch, start_episode
from srl_agent.policy.openai_policy import OpenAIPolicy
from srl_agent.policy.scripted import DeterministicPolicy, ReplayPolicy, ScriptedPolicy, completions_for
from srl_agent.task import Task
from srl_agent.trajectory import Source, Step, Trajectory

MSGS = [{"role": "system", "content": "sys"}, {"role": "user", "content": "fix it"}]


def test_deterministic_policy_replays_in_order_then_fails_or_cycles():
    p = DeterministicPolicy(["a", "b"])
    assert [p.generate(MSGS), p.generate(MSGS)] == ["a", "b"]
    with pytest.raises(PolicyError, match="exhausted"):
        p.generate(MSGS)
    c = DeterministicPolicy(["a", "b"], cycle=True)
    assert [c.generate(MSGS) for _ in range(5)] == ["a", "b", "a", "b", "a"]
    assert generate_batch(DeterministicPolicy(["x", "y"]), [MSGS, MSGS]) == ["x", "y"]


def test_scripted_policy_gives_each_episode_its_own_script():
    p = ScriptedPolicy({"t1": ["one"]}, default=["d1", "d2"])
    e1, e2 = start_episode(p, Task("t1")), start_episode(p, Task("t2"))
    assert e1.generate(MSGS) == "one" and e2.generate(MSGS) == "d1"
    assert start_episode(p, Task("t2")).generate(MSGS) == "d1"  # fresh position per episode
    with pytest.raises(PolicyError):
        ScriptedPolicy({"t1": ["x"]}).episode(Task("other"))


def test_replay_policy_replays_expert_actions_then_submits():
    actions = [Action.bash("ls"), Action.editor("view", "/testbed/a.py")]
    traj = Trajectory(task=Task("t1"), steps=[Step("look", actions[0], "a.py"), Step("", actions[1], "...")],
                      source=Source("test", "mem", 0))
    ep = ReplayPolicy([traj]).episode(Task("t1"))
    outs = [parse_completion(ep.generate(MSGS)) for _ in range(3)]
    assert all(o.ok for o in outs)
    assert [o.action for o in outs] == actions + [Action.submit()]
    assert outs[0].think.strip() == "look"


class _Handler(BaseHTTPRequestHandler):
    """Canned chat completions; the first `fail_first` requests get 503, a 'bad' model gets 400."""

    server: "_Server"

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        srv = self.server
        with srv.lock:
            srv.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            fail = srv.fail_first > 0
            srv.fail_first -= 1
        if fail:
            return self._send(503, {"error": {"message": "overloaded"}})
        if body["model"] == "bad":
            return self._send(400, {"error": {"message": "unknown model"}})
        text = f"<think>\nreply to: {body['messages'][-1]['content']}\n</think>\n" + Action.bash("ls").render()
        self._send(200, {"id": "x", "object": "chat.completion", "model": body["model"],
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                      "finish_reason": "stop"}]})

    def _send(self, code: int, payload: dict) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.fail_first = 0
        self.lock = threading.Lock()


@pytest.fixture
def chat_server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(srv) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}/v1"


def test_openai_policy_posts_chat_completions_and_returns_the_content(chat_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", _url(chat_server))
    policy = OpenAIPolicy("my-model", gen=GenerationConfig(max_new_tokens=64, temperature=0.5, seed=3))
    out = policy.generate(MSGS)
    parsed = parse_completion(out)
    assert parsed.ok and parsed.action == Action.bash("ls") and "reply to: fix it" in parsed.think
    req = chat_server.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
    assert req["body"]["model"] == "my-model" and req["body"]["messages"] == MSGS
    assert req["body"]["max_tokens"] == 64 and req["body"]["temperature"] == 0.5 and req["body"]["seed"] == 3


def test_openai_policy_retries_transient_errors(chat_server):
    chat_server.fail_first = 2
    policy = OpenAIPolicy("m", base_url=_url(chat_server), api_key="", backoff=0.01)
    assert parse_completion(policy.generate(MSGS)).ok
    assert len(chat_server.requests) == 3 and chat_server.requests[0]["auth"] is None


def test_openai_policy_gives_up_with_a_clear_error(chat_server):
    with pytest.raises(PolicyError, match="HTTP 400"):
        OpenAIPolicy("bad", base_url=_url(chat_server), backoff=0.01).generate(MSGS)
    assert len(chat_server.requests) == 1  # a 400 is not retried
    chat_server.fail_first = 10
    with pytest.raises(PolicyError, match="3 attempt"):
        OpenAIPolicy("m", base_url=_url(chat_server), retries=2, backoff=0.01).generate(MSGS)
    with pytest.raises(PolicyError, match="is the server up"):
        OpenAIPolicy("m", base_url="http://127.0.0.1:9/v1", retries=0, timeout=2).generate(MSGS)


def test_openai_policy_batches_concurrently_in_order(chat_server):
    policy = OpenAIPolicy("m", base_url=_url(chat_server))
    batch = [[{"role": "user", "content": f"q{i}"}] for i in range(6)]
    outs = policy.generate_batch(batch)
    assert [parse_completion(o).think.strip() for o in outs] == [f"reply to: q{i}" for i in range(6)]


# ---- a local transformers model (the tiny student's architecture and tokenizer, untrained) -------------------

@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from srl_agent.policy.student import StudentSpec, init_student

    path = tmp_path_factory.mktemp("student") / "tiny"
    init_student(path, StudentSpec(warm_steps=0), show_progress=False)
    return path


@pytest.mark.slow
def test_transformers_policy_batches_like_single_calls_and_counts_tokens(tiny_model_dir):
    import torch

    from srl_agent.policy.transformers_policy import TransformersPolicy

    policy = TransformersPolicy(str(tiny_model_dir), gen=GenerationConfig(max_new_tokens=16), batch_size=4,
                                device="cpu")  # bf16 on a GPU need not batch bit-identically
    torch.manual_seed(0)
    with torch.no_grad():  # an untrained model only writes newlines; random weights give varied text
        for p in policy.model.parameters():
            p.normal_(0, 0.3)
    short = [{"role": "user", "content": "fix the bug"}]
    long = [{"role": "system", "content": "you write code in many languages " * 5}, {"role": "user", "content": "hi"}]
    singles = [policy.generate(short), policy.generate(long)]
    assert len(set(singles)) == 2 and all(s.strip() for s in singles)
    assert policy.generate_batch([short, long]) == singles  # left padding leaves greedy outputs unchanged
    assert "fix the bug" not in singles[0]  # only the new tokens come back
    assert policy.count_tokens(long) > policy.count_tokens(short) > 3


@pytest.mark.slow
def test_tiny_resolves_to_the_default_student_and_runs_in_the_agent_loop(tiny_model_dir, tmp_path, monkeypatch):
    import shutil

    from srl_agent.eval.agent import AgentConfig, run_episode
    from srl_agent.policy.base import load_policy

    home = tmp_path / "home"
    shutil.copytree(tiny_model_dir, home / "students" / "tiny")
    monkeypatch.setenv("SRL_HOME", str(home))
    policy = load_policy("transformers", "tiny", GenerationConfig(max_new_tokens=8))
    assert policy.name == "tiny"

    class Echo:
        def execute(self, action, timeout=None):
            raise AssertionError("an untrained model never writes a valid call")

        def diff(self):
            return ""

    trace = run_episode(Task("t1", problem_statement="fix it"), policy, Echo(), AgentConfig(max_steps=3, grade=False))
    assert trace.stop_reason == "step_limit" and trace.format_errors == 3
