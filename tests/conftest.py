"""Shared fixtures. Docker tests run for real; in CI a missing engine is a failure, never a silent skip."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

import pytest

# A run started in the background by a non-interactive shell (`nohup make test &`, some CI runners) inherits SIGINT
# ignored, and Python keeps it ignored: the Ctrl-C tests (and the `srl` processes they start, which inherit the
# disposition) need Python's default. The product itself keeps respecting an ignored SIGINT.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Use in every test that needs Docker: fails loudly in CI, skips (saying so) on a user's machine."""
    if docker_available():
        return
    if IN_CI:
        pytest.fail("no Docker engine answers in CI: `make test` should have started one (srl env setup)")
    pytest.skip("no Docker engine here: run `make setup` (or `srl env setup`) to run the Docker tests")


@pytest.fixture(scope="session")
def base_image(docker_engine) -> str:
    from srl_agent.sandbox import BASE_IMAGE
    from srl_agent.sandbox.images import build_base_image

    build_base_image(BASE_IMAGE, log=lambda *_: None)
    return BASE_IMAGE


class Interrupted:
    """What `interrupt_srl` saw: the exit code, stderr, and seconds from the first SIGINT to the exit."""

    def __init__(self, rc: int, stderr: str, seconds: float) -> None:
        self.rc, self.stderr, self.seconds = rc, stderr, seconds


@pytest.fixture
def interrupt_srl():
    """Run a real `srl` subprocess, send it one SIGINT once `ready()` is true, and wait for it to exit."""
    import signal
    import sys
    import time
    from pathlib import Path

    def run(argv: list[str], ready, *, timeout: float = 600.0, grace: float = 300.0) -> Interrupted:
        exe = Path(sys.executable).parent / "srl"
        cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "srl_agent.cli"]
        proc = subprocess.Popen(cmd + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"srl {' '.join(argv)} ended (rc {proc.returncode}) before it could be interrupted: {err}")
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"srl {' '.join(argv)}: not ready to interrupt after {timeout:.0f}s")
            time.sleep(0.2)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"srl {' '.join(argv)} still running {grace:.0f}s after a SIGINT")
        return Interrupted(proc.returncode, err, time.monotonic() - t0)

    return run
