"""Helpers of the CLI tests (importable by name from the tests in this folder)."""

from __future__ import annotations

import sys
from pathlib import Path


def srl_command() -> list[str]:
    """The installed `srl` entry point of this interpreter's environment (what a user runs)."""
    exe = Path(sys.executable).parent / "srl"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "srl_agent.cli"]
