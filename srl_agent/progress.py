"""Progress of long stages, readable anywhere: a tqdm bar on a terminal, a plain line every few seconds otherwise.

tqdm redraws one line with carriage returns, which a log file (`make demo > demo.log`, CI, nohup) shows as one
unreadable line or, with `disable=not isatty()`, as nothing at all. `progress()` keeps the bar for terminals and,
when stderr is not a terminal, prints `desc: 12/63 traj (19%), 45s, ~3m left` lines instead: one every
SRL_PROGRESS_SECONDS (default 10) while the stage runs, even between updates, and one at the end; a stage shorter
than that prints none.
SRL_PROGRESS=bar|lines|off forces a mode.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

DEFAULT_SECONDS = 10.0


def mode() -> str:
    """`bar`, `lines` or `off`: SRL_PROGRESS when set, else a bar on a terminal and lines elsewhere."""
    forced = os.environ.get("SRL_PROGRESS", "").strip().lower()
    if forced in ("bar", "lines", "off"):
        return forced
    try:
        return "bar" if sys.stderr.isatty() else "lines"
    except (AttributeError, ValueError):  # a closed or replaced stderr
        return "lines"


def interval() -> float:
    try:
        return max(0.05, float(os.environ.get("SRL_PROGRESS_SECONDS", DEFAULT_SECONDS)))
    except ValueError:
        return DEFAULT_SECONDS


def progress(desc: str, *, total: int | None = None, unit: str = "it", initial: int = 0, enabled: bool = True,
             leave: bool = False):
    """A progress object with tqdm's `update(n)`, `set_postfix(**kw)`, `close()` and context-manager protocol."""
    how = mode() if enabled else "off"
    if how == "bar":
        from tqdm.auto import tqdm

        return tqdm(desc=desc, total=total, unit=unit, initial=initial, leave=leave, dynamic_ncols=True)
    return LineProgress(desc, total=total, unit=unit, initial=initial, quiet=how == "off")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class LineProgress:
    """tqdm's interface, printing a plain status line to stderr every `interval()` seconds (see the module doc)."""

    def __init__(self, desc: str, *, total: int | None = None, unit: str = "it", initial: int = 0,
                 quiet: bool = False, every: float | None = None, stream=None) -> None:
        self.desc, self.total, self.unit, self.n = desc, total, unit, initial
        self.quiet, self.every = quiet, every or interval()
        self.stream = stream
        self.postfix = ""
        self._start = self._last = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._printed = False
        if not quiet:
            # No line at the start: a stage that ends within `every` seconds stays silent. A heartbeat, so that one slow item (an episode, a test run) does not leave the log silent.
            self._thread = threading.Thread(target=self._beat, name=f"progress-{desc}", daemon=True)
            self._thread.start()

    def line(self) -> str:
        elapsed = time.monotonic() - self._start
        done = f"{self.n}/{self.total} {self.unit}" if self.total else f"{self.n} {self.unit}"
        parts = [done]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        parts.append(_duration(elapsed))
        if self.total and 0 < self.n < self.total:
            parts.append(f"~{_duration(elapsed / self.n * (self.total - self.n))} left")
        return f"{self.desc}: {', '.join(parts)}{self.postfix}"

    def _emit(self, suffix: str = "") -> None:
        stream = self.stream or sys.stderr
        try:
            print(self.line() + suffix, file=stream, flush=True)
        except (OSError, ValueError):  # the log went away; progress must never break the work
            self.quiet = True
        self._last = time.monotonic()
        self._printed = True

    def _beat(self) -> None:
        while not self._stop.wait(self.every / 4):
            with self._lock:
                if not self._closed and time.monotonic() - self._last >= self.every:
                    self._emit()

    def update(self, n: int = 1) -> None:
        with self._lock:
            self.n += n
            if not self.quiet and time.monotonic() - self._last >= self.every:
                self._emit()

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs: Any) -> None:
        values = {**(ordered_dict or {}), **kwargs}
        self.postfix = "; " + ", ".join(f"{k} {v}" for k, v in values.items()) if values else ""

    def set_description(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if not self.quiet and self._printed:
                self._emit(" - done")
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1)

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def trainer_callback():
    """A transformers TrainerCallback that prints `train: step 5/20 (25%), 40s, ~2m left; loss ..` lines when
    stderr is not a terminal (the Trainer's own tqdm bar is then off: see TrainConfig.common_trl_args)."""
    from transformers import TrainerCallback

    class _LineProgress(TrainerCallback):
        bar: LineProgress | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero and mode() == "lines":
                self.bar = LineProgress("train", total=state.max_steps or None, unit="steps",
                                        initial=state.global_step)

        def on_step_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.bar is not None and logs:
                shown = {k: f"{v:.4g}" for k, v in logs.items()
                         if isinstance(v, float) and k in ("loss", "reward", "learning_rate", "grad_norm")}
                self.bar.set_postfix(shown)

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    return _LineProgress()


def show_bars_in_trainer() -> bool:
    """Whether the Trainer should draw its own tqdm bar (only on a terminal)."""
    return mode() == "bar"
