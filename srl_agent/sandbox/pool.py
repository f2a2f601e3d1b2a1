"""SandboxPool: a fixed number of sandboxes shared by threads, reset between uses and replaced when they die."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from srl_agent.errors import SandboxError
from srl_agent.sandbox.runtime import Runtime
from srl_agent.sandbox.sandbox import Sandbox, start_sandbox


def checkpointed_sandbox(image: str, **sandbox_kwargs) -> Sandbox:
    """A started sandbox whose current state is its checkpoint; closed again if checkpointing fails."""
    sb = start_sandbox(image, **sandbox_kwargs)
    try:
        sb.checkpoint()
    except BaseException:
        sb.close()
        raise
    return sb


class SandboxPool:
    """`with pool.acquire() as sb:` gives a sandbox at its checkpoint; it goes back to the pool afterwards.

    `factory_or_image` is either a callable returning a started, checkpointed runtime (e.g. a task's
    `task_sandbox` setup) or an image name, in which case `start_sandbox(image, **sandbox_kwargs)` is started and
    its work dir checkpointed as it comes. Sandboxes are started lazily, at most `size` at once.
    """

    def __init__(self, factory_or_image: Callable[[], Runtime] | str, size: int, **sandbox_kwargs):
        if size < 1:
            raise SandboxError("a SandboxPool needs size >= 1")
        if isinstance(factory_or_image, str):
            image = factory_or_image
            self._factory = lambda: checkpointed_sandbox(image, **sandbox_kwargs)
        else:
            self._factory = factory_or_image
        self.size = size
        self._idle: list[Runtime] = []
        self._count = 0  # sandboxes started and not closed (idle + lent out + being started)
        self._cond = threading.Condition()
        self._closed = False

    def __enter__(self) -> "SandboxPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def warm(self, n: int | None = None) -> None:
        """Start sandboxes in parallel now (up to `n`, default the pool size) instead of on first use."""
        n = self.size if n is None else min(n, self.size)
        with ThreadPoolExecutor(max_workers=n) as ex:
            started = list(ex.map(lambda _: self._take(), range(n)))
        for sb in started:
            self._give_back(sb, reset=False)

    @contextmanager
    def acquire(self, timeout: float | None = None) -> Iterator[Runtime]:
        sb = self._take(timeout)
        try:
            yield sb
        finally:
            self._give_back(sb, reset=True)

    def _take(self, timeout: float | None = None) -> Runtime:
        with self._cond:
            while True:
                if self._closed:
                    raise SandboxError("the sandbox pool is closed")
                if self._idle:
                    sb = self._idle.pop()
                    break
                if self._count < self.size:
                    self._count += 1
                    sb = None
                    break
                if not self._cond.wait(timeout):
                    raise SandboxError(f"no sandbox became free within {timeout} s; raise the pool size")
        if sb is not None and sb.is_alive():
            return sb
        if sb is not None:  # died while idle: replace it
            sb.close()
        try:
            return self._factory()
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def _give_back(self, sb: Runtime, *, reset: bool) -> None:
        ok = True
        if reset:
            try:
                ok = sb.is_alive()
                if ok:
                    sb.reset()
            except SandboxError:
                ok = False
        with self._cond:
            if ok and not self._closed:
                self._idle.append(sb)
                self._cond.notify()
                return
            self._count -= 1
            self._cond.notify()
        sb.close()

    def close(self) -> None:
        """Close every idle sandbox now; those still lent out are closed when they come back."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._cond.notify_all()
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(idle)))) as ex:
            list(ex.map(lambda s: s.close(), idle))
