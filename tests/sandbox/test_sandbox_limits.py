"""Containment: pids limit vs a fork bomb, memory limit vs a hog, no network, labels and the non-root user."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def small_sb(base_image):
    from srl_agent.sandbox import Sandbox

    with Sandbox(base_image, memory="256m", pids_limit=64, cpus=0.5) as box:
        yield box


def test_container_is_labelled_limited_and_unprivileged(small_sb):
    from srl_agent.sandbox.container import docker_client

    info = docker_client().api.inspect_container(small_sb.container_id)
    assert info["Config"]["Labels"]["srl-agent"] == "1"
    host = info["HostConfig"]
    assert host["PidsLimit"] == 64 and host["Memory"] == 256 * 1024 ** 2 and host["NanoCpus"] == 5 * 10 ** 8
    assert host["NetworkMode"] == "none"
    assert small_sb.user == "agent" and small_sb.run("id -un").output == "agent\n"


def test_fork_bomb_is_contained_by_the_pids_limit(small_sb):
    # The bomb detaches into the background; the builtin loop keeps the command running until its timeout,
    # which must then clear the bomb out even though it fills every free process slot.
    obs = small_sb.run(":(){ :|:& };: ; while :; do :; done", timeout=3)
    assert obs.timed_out
    after = small_sb.run("echo survived; ps -e --no-headers | wc -l", timeout=20)
    assert after.output.startswith("survived\n")
    assert int(after.output.split()[-1]) < 10  # the bomb is gone, not just stalled


def test_memory_hog_is_killed_by_the_memory_limit(small_sb):
    obs = small_sb.run("python3 -c \"x = b'x' * (1024 ** 3); print('ALLOC' + 'ATED')\"", timeout=60)
    assert obs.exit_code == 137 and "ALLOCATED" not in obs.output and not obs.timed_out
    assert small_sb.run("echo still here").output == "still here\n"


def test_no_network_by_default(small_sb):
    probe = ("import socket\n"
             "for host in ('1.1.1.1', '172.17.0.1', '8.8.8.8'):\n"
             "    try:\n"
             "        socket.create_connection((host, 80), timeout=2).close(); print('connected', host)\n"
             "    except OSError as exc:\n"
             "        print('failed', host, type(exc).__name__)\n")
    small_sb.write_file("/tmp/probe.py", probe)
    obs = small_sb.run("python3 /tmp/probe.py; ls /sys/class/net", timeout=30)
    assert "connected" not in obs.output and obs.output.count("failed") == 3
    assert obs.output.split()[-1] == "lo"
