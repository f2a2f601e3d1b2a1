"""Never-used sandboxes, started ahead of time per image, so that grading in a fresh container costs no start-up.

`FreshPool.take(image)` hands out a started, checkpointed sandbox that nothing has run in; after one use the
caller hands it to `done()`, which removes it and starts a replacement in the background, so the next grade of
the same image finds one ready; `warm(image)` starts one ahead (when an episode starts). At most `per_image` wait per image, for the `max_images` images used
most recently; the rest are closed.
"""

from __future__ import annotations

import atexit
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor

from srl_agent.sandbox.pool import checkpointed_sandbox
from srl_agent.sandbox.sandbox import Sandbox


class FreshPool:
    def __init__(self, per_image: int = 1, max_images: int = 4, workers: int = 2):
        self.per_image, self.max_images = max(0, per_image), max(1, max_images)
        self._ready: OrderedDict[tuple, list[Future]] = OrderedDict()
        self._lock = threading.Lock()
        self._exec = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="srl-fresh")
        self._closed = False

    @staticmethod
    def _key(image: str, kwargs: dict) -> tuple:
        return (image, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))

    def take(self, image: str, **sandbox_kwargs) -> Sandbox:
        """A started, checkpointed sandbox of `image` that has never been used (start one now if none waits)."""
        key = self._key(image, sandbox_kwargs)
        fut = None
        with self._lock:
            waiting = self._ready.get(key)
            if waiting:
                fut = waiting.pop(0)
                self._ready.move_to_end(key)
        if fut is not None:
            try:
                sb = fut.result()
                if sb.is_alive():
                    return sb
                sb.close()
            except Exception:  # noqa: BLE001 - a failed pre-start: start one here, which raises the real error
                pass
        return checkpointed_sandbox(image, **sandbox_kwargs)

    def done(self, sb: Sandbox, image: str, **sandbox_kwargs) -> None:
        """The caller is finished with `sb`: it is removed, and a replacement started, in the background (not
        while the grade runs: on a small machine the two would compete for the same cores)."""
        key = self._key(image, sandbox_kwargs)

        def later() -> None:
            sb.close()
            self._refill(key, image, sandbox_kwargs)

        with self._lock:
            if not self._closed:
                self._exec.submit(later)
                return
        sb.close()

    def _refill(self, key: tuple, image: str, kwargs: dict) -> None:
        evicted: list[Future] = []
        with self._lock:
            if self._closed or not self.per_image:
                return
            waiting = self._ready.setdefault(key, [])
            self._ready.move_to_end(key)
            while len(waiting) < self.per_image:
                waiting.append(self._exec.submit(checkpointed_sandbox, image, **kwargs))
            while len(self._ready) > self.max_images:
                _, old = self._ready.popitem(last=False)
                evicted += old
        for f in evicted:
            f.add_done_callback(_close_result)

    def warm(self, image: str, **sandbox_kwargs) -> None:
        """Start `per_image` sandboxes of `image` now, in the background."""
        self._refill(self._key(image, sandbox_kwargs), image, sandbox_kwargs)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            futures = [f for waiting in self._ready.values() for f in waiting]
            self._ready.clear()
        for f in futures:
            f.add_done_callback(_close_result)
        self._exec.shutdown(wait=True)


class StartEachTime:
    """A pool that keeps nothing waiting: each take starts a sandbox on the spot. For processes that can end
    without running their exit hooks (Ray actors are killed), where a waiting container would be left behind."""

    def take(self, image: str, **sandbox_kwargs) -> Sandbox:
        return checkpointed_sandbox(image, **sandbox_kwargs)


def _close_result(fut: Future) -> None:
    try:
        fut.result().close()
    except Exception:  # noqa: BLE001 - it never started: nothing to close
        pass


_default: FreshPool | None = None
_default_lock = threading.Lock()


def close_default_pool() -> None:
    """Close the shared pool's waiting sandboxes now (a new pool starts on the next grade)."""
    global _default
    with _default_lock:
        pool, _default = _default, None
    if pool is not None:
        pool.close()


def default_pool() -> FreshPool:
    """The process's shared pool (one waiting sandbox per image, four images)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = FreshPool()
            atexit.register(_default.close)
        return _default
