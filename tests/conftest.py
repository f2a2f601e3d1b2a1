"""Shared fixtures. Docker tests run for real; in CI a missing engine is a failure, never a silent skip."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

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
