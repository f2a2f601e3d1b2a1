"""Library code logs instead of printing, and under accelerate only local rank 0 speaks (unless asked)."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

from srl_agent.logs import ALL_RANKS_ENV, RankZeroFilter

PKG = Path(__file__).resolve().parents[1] / "srl_agent"
# Where print is the point: the CLI (srl_agent/cli/) and the demo's stage lines, the accelerate entry point, the progress
# lines themselves, the Ctrl-C handler (logging's lock may be held by the interrupted thread), and the scripts
# that run inside the task container.
PRINT_ALLOWED = ("cli/", "demo/", "train/launch.py", "progress.py", "runner.py", "sandbox/incontainer/")


def _prints(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    main_blocks = [n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
    inside_main = {id(x) for b in main_blocks for x in ast.walk(b)}
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
            and n.func.id == "print" and id(n) not in inside_main]


def test_library_code_does_not_print():
    """A print in library code cannot be silenced (-q), routed, or kept to rank 0: use a module logger."""
    offenders = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        if any(rel == a or (a.endswith("/") and rel.startswith(a)) for a in PRINT_ALLOWED):
            continue
        offenders += [f"srl_agent/{rel}:{line}" for line in _prints(path)]
    assert not offenders, "print() in library code (use logging.getLogger(__name__)): " + ", ".join(offenders)


def _record(**extra) -> logging.LogRecord:
    rec = logging.LogRecord("srl_agent.x", logging.INFO, __file__, 1, "hello", None, None)
    rec.__dict__.update(extra)
    return rec


@pytest.mark.parametrize("rank,keep", [(None, True), ("0", True), ("1", False), ("3", False)])
def test_rank_zero_filter_keeps_only_local_rank_zero(monkeypatch, rank, keep):
    monkeypatch.delenv(ALL_RANKS_ENV, raising=False)
    monkeypatch.delenv("ACCELERATE_LOCAL_PROCESS_INDEX", raising=False)
    if rank is None:
        monkeypatch.delenv("LOCAL_RANK", raising=False)
    else:
        monkeypatch.setenv("LOCAL_RANK", rank)
    assert RankZeroFilter().filter(_record()) is keep
    assert RankZeroFilter().filter(_record(all_ranks=True)), "a record may ask to be shown on every rank"


def test_all_ranks_on_request_with_the_rank_in_the_line(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "2")
    monkeypatch.setenv(ALL_RANKS_ENV, "1")
    rec = _record()
    assert RankZeroFilter().filter(rec) and rec.getMessage() == "[rank 2] hello"


def test_the_cli_handler_filters_ranks_and_follows_v_and_q():
    from srl_agent.cli.helpers import output_settings

    ours = logging.getLogger("srl_agent")
    for verbosity, level in ((-1, logging.WARNING), (0, logging.INFO), (2, logging.DEBUG)):
        with output_settings(verbosity):
            assert ours.level == level
            assert any(isinstance(f, RankZeroFilter) for h in ours.handlers for f in h.filters)
