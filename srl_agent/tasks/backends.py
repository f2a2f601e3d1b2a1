"""Pick the sandbox backend by name: `local` (containers on this machine) or `ray` (actors across a cluster).

`make_pool` gives a pool with the `SandboxPool` API; `task_sandbox_factory` gives what `evaluate` calls per task
(`factory(task)` -> a context manager yielding a sandbox at the task's start state). Both the evaluation and
the trainers that run episodes (RLVR) use these, so switching backends is one argument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from srl_agent.errors import ConfigError

BACKENDS = ("local", "ray")


def _check(backend: str) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"unknown sandbox backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def make_pool(backend: str, factory_or_image: Callable[[], Any] | str, size: int, *, address: str | None = None,
              **sandbox_kwargs):
    """A `SandboxPool` (local) or `RaySandboxPool` (ray; `address` names the cluster, None starts a local one)."""
    _check(backend)
    if backend == "ray":
        from srl_agent.sandbox.ray_pool import RaySandboxPool

        return RaySandboxPool(factory_or_image, size, address=address, **sandbox_kwargs)
    if address is not None:
        raise ConfigError("--address is for the ray backend; add --backend ray")
    from srl_agent.sandbox.pool import SandboxPool

    return SandboxPool(factory_or_image, size, **sandbox_kwargs)


def task_sandbox_factory(backend: str = "local", *, address: str | None = None, size: int = 1,
                         **sandbox_kwargs) -> Callable:
    """`factory(task)` -> context manager giving a sandbox at the task's start state, on the chosen backend
    (ray: at most `size` at once, each in its own actor)."""
    _check(backend)
    if backend == "ray":
        from srl_agent.sandbox.ray_pool import RaySandboxPool

        return RaySandboxPool(None, size, address=address, **sandbox_kwargs).task_sandbox
    if address is not None:
        raise ConfigError("--address is for the ray backend; add --backend ray")
    from srl_agent.tasks import task_sandbox

    if not sandbox_kwargs:
        return task_sandbox
    return lambda task: task_sandbox(task, **sandbox_kwargs)
