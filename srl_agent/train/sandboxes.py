"""Sandboxes for RL episodes: a pool per task (local or Ray), kept open for the most recently used tasks."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable

from srl_agent.task import Task


class TaskSandboxes:
    """A sandbox pool per task (srl_agent.sandbox.make_pool, so `backend` may be local or ray); pools of the
    `max_open_tasks` most recently used tasks stay open, older ones are closed. The pool resets a sandbox to the
    task's start state when it comes back, so every episode starts clean."""

    def __init__(self, *, backend: str = "local", address: str | None = None, per_task: int = 4,
                 max_open_tasks: int = 2, factory: Callable[[Task], Any] | None = None) -> None:
        self.backend, self.address = backend, address
        self.per_task, self.max_open_tasks = per_task, max(1, max_open_tasks)
        self.factory = factory or start_task_sandbox
        self._pools: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def pools_for(self, needs: dict[str, tuple[Task, int]]) -> dict[str, Any]:
        """A pool per task of a batch, each with room for that task's episodes at once (they run in lockstep, so
        none may wait); pools of tasks outside the batch beyond `max_open_tasks` are closed."""
        from srl_agent.tasks.backends import make_pool

        old, out = [], {}
        with self._lock:
            for iid, (task, need) in needs.items():
                pool = self._pools.get(iid)
                if pool is not None and pool.size < need:
                    old.append(self._pools.pop(iid))
                    pool = None
                if pool is None:
                    pool = make_pool(self.backend, _bind(self.factory, task), max(self.per_task, need),
                                     address=self.address)
                self._pools[iid] = pool
                self._pools.move_to_end(iid)
                out[iid] = pool
            for iid in list(self._pools):
                if len(self._pools) <= self.max_open_tasks:
                    break
                if iid not in needs:
                    old.append(self._pools.pop(iid))
        for p in old:
            p.close()
        return out

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), OrderedDict()
        for p in pools:
            p.close()


def _bind(factory: Callable[[Task], Any], task: Task) -> Callable[[], Any]:
    return lambda: factory(task)


def start_task_sandbox(task: Task):
    """A started sandbox at the task's start state, checkpointed (what `srl_agent.tasks.task_sandbox` yields,
    as a plain object the pool owns and closes)."""
    from srl_agent.tasks.runtime import start_task_sandbox as start

    return start(task)
