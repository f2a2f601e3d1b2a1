"""SandboxPool reuse and replacement; cleanup that cannot be forgotten (atexit, SIGINT, SIGTERM, gc); the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid

import pytest

pytestmark = pytest.mark.docker

CHILD = """
import sys, time
from srl_agent.sandbox import Sandbox
sb = Sandbox(sys.argv[1], labels={"srl-agent.test": sys.argv[2]}).start()
print(sb.container_id, flush=True)
sys.stdin.readline()  # the parent has seen the container: now exit (or wait for its signal)
if sys.argv[3] == "wait":
    time.sleep(120)
"""


def test_pool_reuses_resets_and_is_thread_safe(base_image):
    from srl_agent.sandbox import SandboxPool

    seen, errors = [], []
    with SandboxPool(base_image, size=2) as pool:
        def work(i: int) -> None:
            try:
                with pool.acquire(timeout=120) as sb:
                    leftover = sb.run("ls /testbed").output
                    sb.write_file(f"/testbed/from-{i}.txt", "x")
                    seen.append((sb.container_id, leftover))
            except Exception as exc:  # collected: an assertion in a thread would be lost
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert len({cid for cid, _ in seen}) <= 2  # six uses, at most two containers
        assert all(leftover == "" for _, leftover in seen)  # each use started from the reset state


def test_pool_replaces_a_dead_sandbox(base_image):
    from srl_agent.sandbox import SandboxPool
    from srl_agent.sandbox.container import docker_client

    with SandboxPool(base_image, size=1) as pool:
        with pool.acquire() as sb:
            first = sb.container_id
        docker_client().api.kill(first)
        with pool.acquire() as sb:
            assert sb.container_id != first and sb.run("echo ok").output == "ok\n"


@pytest.mark.parametrize("how", ["exit", "sigint", "sigterm"])
def test_containers_are_removed_when_the_process_ends(base_image, how):
    """No `close()`: the atexit hook (normal exit) and the signal handlers (Ctrl-C, kill) remove containers."""
    from srl_agent.sandbox.container import list_containers

    token = uuid.uuid4().hex
    proc = subprocess.Popen([sys.executable, "-c", CHILD, base_image, token, "exit" if how == "exit" else "wait"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    cid = proc.stdout.readline().strip()
    assert cid and list_containers({"srl-agent.test": token}) == [cid]
    if how == "exit":
        proc.stdin.write("go\n")  # the child blocks until the container was seen, so its exit cannot race it
        proc.stdin.flush()
    else:
        proc.send_signal(signal.SIGINT if how == "sigint" else signal.SIGTERM)
    proc.wait(timeout=60)
    assert list_containers({"srl-agent.test": token}) == []


def test_gc_removes_labelled_containers(base_image):
    from srl_agent.sandbox import Sandbox
    from srl_agent.sandbox.container import gc, list_containers

    token = uuid.uuid4().hex
    sb = Sandbox(base_image, labels={"srl-agent.test": token}).start()
    # gc is filtered to this test's label: other people's sandboxes on a shared engine must survive the tests
    assert gc({"srl-agent.test": token}) == [sb.container_id]
    assert list_containers({"srl-agent.test": token}) == [] and not sb.is_alive()
    sb.close()  # closing after gc is harmless


def test_cli_run_prints_output_and_exits_with_the_code(base_image):
    srl = os.path.join(os.path.dirname(sys.executable), "srl")
    proc = subprocess.run([srl, "env", "run", base_image, "--", "echo hello; exit 3"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 3 and proc.stdout == "hello\n"
    timed = subprocess.run([srl, "env", "run", base_image, "--timeout", "1", "--", "sleep", "30"],
                           capture_output=True, text=True, timeout=120)
    assert timed.returncode == 124 and "timed out" in timed.stdout
    bad = subprocess.run([srl, "env", "run", "srl-agent-no-such-image:0", "--", "true"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode != 0 and "not found" in bad.stderr and "Traceback" not in bad.stderr
