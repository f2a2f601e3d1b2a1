"""Fixtures for the trajectory tests: the shared corpus (skipped off CI when absent) and the bundled fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
# The real-file corpus: ../shared/corpus beside the clone, or the folder SRL_TRAJ_CORPUS names (a copy with
# more files, e.g. one staged for shared/corpus that is not there yet).
CORPUS = Path(os.environ.get("SRL_TRAJ_CORPUS") or Path(__file__).resolve().parents[2].parent / "shared" / "corpus")


@pytest.fixture(scope="session")
def corpus() -> Path:
    if CORPUS.is_dir():
        return CORPUS
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"the trajectory corpus is missing in CI (expected {CORPUS})")
    pytest.skip(f"no trajectory corpus at {CORPUS} (it sits beside the clone as shared/corpus)")


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES
