"""The demo's student build in a second process, so it runs while the images are built and the expert replayed.

The student build is pure CPU work on one torch thread and needs nothing from Docker; the stages before it
(images, replay) spend much of their time waiting on containers. Started first, the build overlaps them instead of
adding its minutes after them. Its output goes to `<run dir>/student.log`; the student stage waits for it, showing
the log's last line now and then. The build is resumable (checkpoints), so stopping the demo loses at most a few
of its steps: the process is always stopped when the demo ends, however it ends.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from srl_agent.errors import SRLError

log = logging.getLogger(__name__)
SHOW_EVERY = 20.0  # seconds between the waiting stage's lines


class BackgroundBuildError(SRLError, RuntimeError):
    """The background student build failed; the message gives the tail of its log and how to rerun it."""


class BackgroundBuild:
    """A command in a child process (its own process group), stdout and stderr to `log_path`.

    Use as a context manager: leaving the block stops a build that is still running (SIGTERM to its group,
    then SIGKILL after a grace period), whatever the reason for leaving."""

    def __init__(self, cmd: list[str], log_path: Path, grace: float = 5.0):
        self.cmd, self.log_path, self.grace = list(cmd), Path(log_path), grace
        self.proc: subprocess.Popen | None = None
        self.started = 0.0

    @classmethod
    def srl(cls, argv: list[str], log_path: Path, grace: float = 5.0) -> BackgroundBuild:
        """`srl ARGV` with this interpreter (progress as plain lines, since the output is a file)."""
        return cls([sys.executable, "-m", "srl_agent.cli", *argv], log_path, grace)

    @property
    def shown(self) -> str:
        if self.cmd[1:3] == ["-m", "srl_agent.cli"]:
            return "srl " + " ".join(self.cmd[3:])
        return " ".join(self.cmd)

    def __enter__(self) -> BackgroundBuild:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, SRL_PROGRESS="lines", PYTHONUNBUFFERED="1")
        with open(self.log_path, "a", encoding="utf-8") as out:
            out.write(f"$ {self.shown}\n")
            out.flush()
            self.proc = subprocess.Popen(self.cmd, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                         start_new_session=True)  # a Ctrl-C goes to the demo, which stops it
        self.started = time.monotonic()
        log.info("background build started (pid %d): %s", self.proc.pid, self.shown)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if not self.running():
            return
        assert self.proc is not None
        for sig, wait in ((signal.SIGTERM, self.grace), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def last_line(self) -> str:
        try:
            lines = [ln for ln in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1].strip() if lines else ""

    def wait(self, say: Callable[[str], None], every: float = SHOW_EVERY) -> float:
        """Block until the build ends, a line every `every` seconds; its wall seconds. Raises if it failed."""
        if self.proc is None:
            raise BackgroundBuildError("the background build was never started")
        shown = time.monotonic()
        while self.proc.poll() is None:
            time.sleep(0.2)
            if time.monotonic() - shown >= every:
                shown = time.monotonic()
                say(f"{'':18s}building for {time.monotonic() - self.started:.0f}s: {self.last_line()[:100]}")
        seconds = time.monotonic() - self.started
        if self.proc.returncode != 0:
            tail = "\n    ".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-8:])
            raise BackgroundBuildError(f"`{self.shown}` exited with {self.proc.returncode} "
                                       f"(log: {self.log_path}):\n    {tail}")
        return seconds
