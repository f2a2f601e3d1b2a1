"""Import the in-container modules (they import each other by bare name, as in the container) for unit tests."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

DIR = Path(__file__).resolve().parents[2] / "srl_agent" / "sandbox" / "incontainer"


def load(name: str):
    if str(DIR) not in sys.path:
        sys.path.append(str(DIR))  # appended: the bare names must not shadow anything
    return importlib.import_module(name)
