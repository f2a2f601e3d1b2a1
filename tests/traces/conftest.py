"""Fixtures for the viewer tests: the shared corpus of real trajectory files, and headless Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def corpus() -> Path:
    if CORPUS.is_dir():
        return CORPUS
    if IN_CI:
        pytest.fail(f"the trajectory corpus is missing in CI (expected {CORPUS})")
    pytest.skip(f"no trajectory corpus at {CORPUS} (it sits beside the clone as shared/corpus)")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail("chromium is missing in CI: `make test` installs it (scripts/setup_test_extras.sh)")
        pytest.skip("chromium not found: install Debian's chromium (apt-get install chromium) to run the viewer test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()
