"""The Ray sandbox pool on a local Ray cluster: the local pool's API, dead actors replaced and reported as
infrastructure failures, and evaluation over Ray workers giving the local pool's results. Real Docker."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from srl_agent.actions import Action
from srl_agent.errors import ConfigError, SandboxError

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray session per module (starting one costs seconds): 2 CPUs = 2 sandbox workers."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield
    ray.shutdown()


def _pool_containers(pool) -> list[str]:
    from srl_agent.sandbox.container import list_containers
    from srl_agent.sandbox.ray_pool import POOL_LABEL

    return list_containers({POOL_LABEL: pool.pool_id})


def _container_exists(cid: str) -> bool:
    import docker

    from srl_agent.sandbox.container import docker_client

    try:
        docker_client().api.inspect_container(cid)
    except docker.errors.NotFound:
        return False
    return True


def test_unknown_backend_and_stray_address_are_config_errors():
    from srl_agent.tasks.backends import make_pool, task_sandbox_factory

    with pytest.raises(ConfigError, match="choose one of local, ray"):
        make_pool("k8s", "img", 1)
    with pytest.raises(ConfigError, match="--backend ray"):
        task_sandbox_factory("local", address="auto")


@pytest.mark.docker
def test_ray_pool_has_the_local_pool_api(ray_cluster, base_image):
    """Same calls, same types, same reset between uses; the project's own errors come back as themselves."""
    from srl_agent.sandbox import Observation
    from srl_agent.tasks.backends import make_pool
    from srl_agent.sandbox.ray_pool import RemoteSandbox

    with make_pool("ray", base_image, 1) as pool:
        with pool.acquire() as sb:
            assert isinstance(sb, RemoteSandbox) and sb.workdir == "/testbed" and sb.image == base_image
            obs = sb.execute(Action.bash("cd /testbed && echo hello > a.txt && cat a.txt"))
            assert isinstance(obs, Observation) and obs.output == "hello\n" and obs.exit_code == 0
            sb.write_file("b.txt", "two\n")
            assert sb.read_file("/testbed/b.txt") == "two\n"
            assert "+hello" in sb.diff() and "b.txt" in sb.diff()
            assert sb.run("exit 3").exit_code is not None  # the shell is replaced, the call does not raise
            with pytest.raises(SandboxError):
                sb.read_file("/no/such/file")
            first = sb.container_id
        with pool.acquire() as sb:  # the same sandbox, back at its checkpoint
            assert sb.container_id == first and sb.diff() == ""
            assert sb.run("ls /testbed").output == ""
        assert _pool_containers(pool) == [first]
    assert _pool_containers(pool) == []


@pytest.mark.docker
def test_killed_actor_is_an_infrastructure_failure_and_is_replaced(ray_cluster, base_image):
    """A dead actor fails every call with SandboxError (never a hang), its container is removed from its node,
    and the pool starts a new sandbox for the next user."""
    from srl_agent.tasks.backends import make_pool

    with make_pool("ray", base_image, 1) as pool:
        with pool.acquire() as sb:
            dead = sb.container_id
            threading.Timer(1.0, lambda: ray.kill(sb.actor, no_restart=True)).start()
            with pytest.raises(SandboxError, match="infrastructure failure"):
                sb.run("sleep 30")  # killed while the command runs
            with pytest.raises(SandboxError, match="infrastructure failure"):
                sb.diff()
            assert not sb.is_alive()
        assert not _container_exists(dead)
        with pool.acquire() as sb:
            assert sb.container_id != dead and sb.run("echo ok").output == "ok\n"
    assert _pool_containers(pool) == []


# ---- evaluation over Ray: the bundled suite, the scripted policy ------------------------------------------------

def _scripts(tasks) -> dict[str, list[str]]:
    """Task 0: the gold fix (resolved); task 1: a look around (unresolved); task 2: a broken edit (unresolved)."""
    from srl_agent.policy.scripted import completions_for
    from test_agent import gold_actions

    plans = [gold_actions(tasks[0]) + [Action.submit()],
             [Action.bash("ls && git status --short"), Action.submit()],
             [Action.bash("echo 'garbage(' >> $(git ls-files '*.py' | head -1) && git diff --stat"), Action.submit()]]
    return {t.instance_id: completions_for(plan) for t, plan in zip(tasks, plans)}


def _episodes(run: Path) -> dict[str, dict]:
    from srl_agent.eval.evaluation import load_traces

    out = {}
    for trace in load_traces(run):
        out[trace.instance_id] = {
            "status": trace.status, "stop_reason": trace.stop_reason, "patch": trace.patch,
            "grade": trace.grade and trace.grade.status, "tests": trace.grade and trace.grade.tests_status,
            "steps": [(s.action, s.observation, s.exit_code) for s in trace.steps]}
    return out


@pytest.mark.docker
@pytest.mark.slow
def test_eval_over_two_ray_workers_matches_the_local_pool(ray_cluster, docker_engine, tmp_path):
    from srl_agent.eval.evaluation import evaluate
    from srl_agent.policy.scripted import ScriptedPolicy
    from test_agent import real_tasks

    tasks = real_tasks(3)
    scripts = _scripts(tasks)
    local = evaluate(tasks, ScriptedPolicy(scripts), tmp_path / "local", workers=2, progress=False)
    remote = evaluate(tasks, ScriptedPolicy(scripts), tmp_path / "ray", workers=2, backend="ray", progress=False)
    assert local["resolved"] == 1 and local["statuses"] == {"resolved": 1, "unresolved": 2}
    assert remote == local
    assert _episodes(tmp_path / "ray") == _episodes(tmp_path / "local")
    predictions = [(tmp_path / run / "predictions.jsonl").read_text() for run in ("ray", "local")]
    assert predictions[0] == predictions[1]


@pytest.mark.docker
@pytest.mark.slow
def test_killing_an_actor_mid_episode_is_an_infrastructure_failure_and_the_run_finishes(ray_cluster,
                                                                                        docker_engine, tmp_path):
    from srl_agent.eval.evaluation import evaluate
    from srl_agent.policy.scripted import ScriptedPolicy, completions_for
    from srl_agent.sandbox.ray_pool import RaySandboxPool
    from test_agent import gold_actions, real_tasks

    victim, other = real_tasks(2)
    pool = RaySandboxPool(None, 2)
    sandboxes: dict[str, object] = {}

    @contextmanager
    def factory(task):  # remembers each task's sandbox, so the policy can find the actor to kill
        with pool.task_sandbox(task) as sb:
            sandboxes[task.instance_id] = sb
            yield sb

    class KillDuringSleep(ScriptedPolicy):
        def episode(self, task):
            inner = super().episode(task)
            if task.instance_id != victim.instance_id:
                return inner
            outer_generate = inner.generate

            def generate(messages):
                out = outer_generate(messages)
                if "sleep 60" in out:  # the actor dies while that command runs
                    threading.Timer(1.0, lambda: ray.kill(sandboxes[task.instance_id].actor, no_restart=True)).start()
                return out

            inner.generate = generate
            return inner

    scripts = {victim.instance_id: completions_for([Action.bash("echo start"), Action.bash("sleep 60"),
                                                    Action.submit()]),
               other.instance_id: completions_for(gold_actions(other) + [Action.submit()])}
    summary = evaluate([victim, other], KillDuringSleep(scripts), tmp_path / "run", workers=2,
                       sandbox_factory=factory, progress=False)
    assert summary["episodes"] == 2 and summary["not_run"] == 0
    assert summary["statuses"] == {"error": 1, "resolved": 1}
    report = json.loads((tmp_path / "run" / victim.instance_id / "report.json").read_text())
    assert report["stop_reason"] == "sandbox_error" and report["status"] == "error" and not report["resolved"]
    assert "infrastructure failure" in report["grade"]["infra_error"]
    assert report["steps"] == 2  # the killed command was the last step
    assert _pool_containers(pool) == []  # the dead actor's container was removed from its node
    pool.close()



@pytest.mark.docker
@pytest.mark.slow
def test_srl_eval_backend_ray_from_the_command_line(ray_cluster, docker_engine, tmp_path, capsys):
    """`srl eval --backend ray` replays a fix on the Ray cluster this process is connected to; --address without
    --backend ray is a one-line error."""
    from srl_agent.cli import main
    from srl_agent.trajectory import Source, Step, Trajectory, write_trajectories
    from test_agent import gold_actions, real_tasks

    task = real_tasks(1)[0]
    write_trajectories([Trajectory(task, [Step("fix", a, "") for a in gold_actions(task)], Source("test", "-", 0))],
                       tmp_path / "script.jsonl")
    run = tmp_path / "run"
    argv = ["eval", "--policy", "scripted", "--model", str(tmp_path / "script.jsonl"), "--tasks", "pypi-mutants:test",
            "--instance-ids", task.instance_id, "-o", str(run), "--backend", "ray", "--max-steps", "5"]
    assert main(argv) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["resolved"] == 1 and summary["statuses"] == {"resolved": 1}
    assert main(argv[:-4] + ["--backend", "local", "--address", "auto"]) == 2  # a usage error
    assert "--address is for the ray backend" in capsys.readouterr().err
