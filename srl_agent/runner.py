"""Resumable runs of many independent units (eval episodes, replays, grades): skip done, retry ERROR, Ctrl-C.

The three long-running commands share one shape: a list of units, a rule saying which are already done on disk
(a unit whose stored result is an infrastructure ERROR is not done: it runs again), a thread pool, and results
written atomically as each unit finishes, so that a stopped run resumes where it was.

Ctrl-C: `graceful_stop()` (used by the CLI around a run) turns the first SIGINT into a request: no new unit starts,
units that check the request (between agent steps, between replayed steps) end within a step, the others
finish, and the command writes every partial output, then exits 130. A second SIGINT stops at once (containers
this process started are removed first; exit 130). Rerunning the same command resumes.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Generic, Iterable, Iterator, TypeVar

from srl_agent.errors import SRLError

log = logging.getLogger(__name__)
U = TypeVar("U")
INTERRUPT_EXIT = 130


class Interrupted(SRLError):
    """A run stopped by Ctrl-C after writing its partial outputs; `srl` exits 130 (the message says what is kept)."""


def atomic_write(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` through a temp file and a rename, so a stopped run never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # pid and thread in the name: two writers of the same file never share a temp file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        tmp.write_text(text, encoding=encoding)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


class StopRequest:
    """Set once a stop is asked for (first Ctrl-C); units poll it with `stop()` or `stop.is_set()`."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    __call__ = is_set


# Cleanups the second Ctrl-C runs before exiting at once (os._exit skips atexit). The sandbox registers its
# "remove every container this process started" here when it is imported, so this low-level module needs no
# import of the sandbox (imports point down the pipeline: docs/architecture.md).
_STOP_NOW_CLEANUPS: list[Callable[[], object]] = []


def on_stop_now(cleanup: Callable[[], object]) -> None:
    """Run `cleanup()` when a second Ctrl-C stops the process at once (each function registered once)."""
    if cleanup not in _STOP_NOW_CLEANUPS:
        _STOP_NOW_CLEANUPS.append(cleanup)


def _stop_now(signum, frame) -> None:  # the second Ctrl-C: no waiting on threads that may run for minutes
    print("srl: stopped at once (second Ctrl-C); rerun the same command to resume", file=sys.stderr, flush=True)
    try:
        for cleanup in list(_STOP_NOW_CLEANUPS):
            try:
                cleanup()
            except Exception:  # noqa: BLE001 - one failed cleanup must not keep the others from running
                pass
    finally:
        os._exit(INTERRUPT_EXIT)


@contextmanager
def graceful_stop(what: str = "running units") -> Iterator[StopRequest]:
    """Within the block the first SIGINT sets the yielded StopRequest; the second ends the process at once.

    Outside the main thread (no signal handlers there) the request is still yielded, never set by a signal."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def first(signum, frame) -> None:
        stop.set()
        signal.signal(signal.SIGINT, _stop_now)
        print(f"srl: stopping: no new work starts, the {what} finish and the partial results are written "
              "(Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

    first.graceful = True  # type: ignore[attr-defined]  # container.py leaves such a handler in place
    previous = signal.signal(signal.SIGINT, first)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def is_graceful(handler) -> bool:
    """Whether `handler` is graceful_stop's first-SIGINT handler (or the second one it arms)."""
    return getattr(handler, "graceful", False) or handler is _stop_now


@dataclass
class Outcome(Generic[U]):
    """What a run of units did: how many ran to the end, which failed (unit, exception), how many never started."""

    finished: int = 0
    failed: list[tuple[U, BaseException]] = field(default_factory=list)
    not_started: int = 0
    interrupted: bool = False


def run_units(units: Iterable[U], work: Callable[[U], None], *, workers: int = 1,
              stop: StopRequest | None = None, fatal: Callable[[BaseException], bool] = lambda exc: True,
              ) -> Outcome[U]:
    """Run `work(unit)` for every unit on `workers` threads; results are `work`'s to write as each ends.

    A unit whose exception `fatal(exc)` calls fatal stops the run (the pending units are cancelled, the exception
    re-raised); others are collected in `Outcome.failed` and the rest go on. Once `stop` is set no unit starts.
    """
    units = list(units)
    stop = stop or StopRequest()
    outcome: Outcome[U] = Outcome()
    lock = threading.Lock()

    def guarded(unit: U) -> bool:
        if stop.is_set():
            with lock:
                outcome.not_started += 1
            return False
        work(unit)
        return True

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(guarded, u): u for u in units}
        for fut in as_completed(futures):
            exc = fut.exception()
            if exc is None:
                outcome.finished += bool(fut.result())
                continue
            if fatal(exc):
                stop.set()
                for f in futures:
                    f.cancel()
                raise exc
            outcome.failed.append((futures[fut], exc))
    outcome.interrupted = stop.is_set()
    return outcome


def done_unless_error(status: str | None) -> bool:
    """The shared resume rule: a stored result is done unless it is an infrastructure ERROR (or missing)."""
    return status is not None and status != "ERROR"
