"""Logging for the library: module loggers under `srl_agent`, shown once per machine under accelerate.

Library code logs (`log = logging.getLogger(__name__)`), never prints; the `srl` CLI installs the one handler
(srl_agent.cli.helpers.configure_output, levels by `-v`/`-q`). Under `accelerate launch` every process runs the
same code, so the handler carries `RankZeroFilter`: records of processes whose local rank is not 0 are dropped,
unless `SRL_LOG_ALL_RANKS=1` is set (then each line is prefixed with its rank) or a record asks for it with
`extra={"all_ranks": True}` (for what only that process knows, e.g. its own error).
"""

from __future__ import annotations

import logging
import os

ALL_RANKS_ENV = "SRL_LOG_ALL_RANKS"


def local_rank() -> int:
    """This process's rank on its machine as accelerate / torchrun set it (0 when not launched by them)."""
    for var in ("LOCAL_RANK", "ACCELERATE_LOCAL_PROCESS_INDEX"):
        value = os.environ.get(var)
        if value not in (None, ""):
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


class RankZeroFilter(logging.Filter):
    """Keep records of local rank 0 only (see the module docstring for the two ways to see the others)."""

    def filter(self, record: logging.LogRecord) -> bool:
        rank = local_rank()
        if os.environ.get(ALL_RANKS_ENV, "") not in ("", "0"):
            if rank and not getattr(record, "_rank_tagged", False):
                record.msg, record._rank_tagged = f"[rank {rank}] {record.msg}", True
            return True
        return rank == 0 or bool(getattr(record, "all_ranks", False))
