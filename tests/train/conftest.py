"""Shared pieces of the training tests: the tiny student (built once per code version) and small datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def student_dir() -> Path:
    from srl_agent.policy.student import cached_student

    return cached_student(REPO / ".cache" / "test-students")


@pytest.fixture(scope="session")
def steps_dir(tmp_path_factory) -> Path:
    from srl_agent.train.fixtures import step_dataset

    path = tmp_path_factory.mktemp("steps") / "steps"
    step_dataset(copies=2).save_to_disk(str(path))
    return path
