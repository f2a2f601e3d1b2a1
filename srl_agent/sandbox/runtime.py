"""The runtime interface: what an agent, a trainer or a tool may ask of the place its commands run.

`Runtime` is the one contract between the code that acts (the agent loop, RLVR rollouts, the evaluation, a
user's own policy or tool) and the code that runs things (the local Docker `Sandbox`, the Ray `RemoteSandbox`,
the in-memory `FakeRuntime`). Where and how the place was started (a container on this machine, an actor on a
cluster node, nothing at all) is the deployment's business: a `Runtime` is handed over already started, and the
code that acts never learns how (SWE-ReX's Runtime/Deployment split). Every call takes plain typed arguments
and returns an `Observation` or `ResetResult`; the project's errors (`SandboxError`, `TooLargeError`) are part
of the contract, the same on every implementation.

`forward_runtime` builds a class's Runtime methods from the Protocol itself, each one calling the class's
`_call(name, *args, **kwargs)`, so a proxy (the Ray handle) cannot drift from the interface.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from srl_agent.actions import Action
from srl_agent.sandbox.observation import Observation, ResetResult

READ_LIMIT = 4 << 20  # read_file() and diff() hand at most this much to the caller


@runtime_checkable
class Runtime(Protocol):
    """A started place where an agent's commands run, as an unprivileged user, in a work dir under git.

    `workdir`: the repository the agent works in; `user`: who its commands run as; `home`: that user's home.
    """

    workdir: str
    user: str

    @property
    def home(self) -> str:
        """The agent user's home directory inside the runtime."""
        ...

    def run(self, command: str, timeout: float | None = None) -> Observation:
        """One bash command as the agent; shell state carries over to the next. Never raises for the command's
        own failure: look at `exit_code`, `timed_out`, `restarted`."""
        ...

    def execute(self, action: Action, timeout: float | None = None) -> Observation:
        """One agent action: `bash`, `str_replace_editor` (view/create/str_replace/insert/undo_edit) or `submit`
        (output: the patch)."""
        ...

    def checkpoint(self) -> None:
        """Make the work dir's current state the start state: what `reset()` returns to, `diff()` compares to."""
        ...

    def reset(self) -> ResetResult:
        """Back to the checkpoint (SandboxError when none was taken)."""
        ...

    def diff(self, limit: int = READ_LIMIT) -> str:
        """The patch from the checkpoint to now (`git diff` format); TooLargeError past `limit` bytes."""
        ...

    def read_file(self, path: str, limit: int = READ_LIMIT) -> str:
        """A file's text (relative paths are under the work dir); SandboxError when missing, TooLargeError past
        `limit` bytes."""
        ...

    def write_file(self, path: str, text: str | bytes) -> None:
        """Write a file as the agent user (relative paths are under the work dir)."""
        ...

    def is_alive(self) -> bool:
        """Whether calls can still succeed (False once closed or when the place died)."""
        ...

    def close(self) -> None:
        """Release the place (idempotent); every later call raises SandboxError."""
        ...


def runtime_methods() -> dict[str, Callable]:
    """The Protocol's methods by name (its functions, with their signatures and docstrings)."""
    return {name: fn for name, fn in vars(Runtime).items()
            if not name.startswith("_") and inspect.isfunction(fn)}


def runtime_attributes() -> tuple[str, ...]:
    """The Protocol's data members (plain attributes and properties), which a proxy copies once at start."""
    plain = tuple(getattr(Runtime, "__annotations__", {}))
    props = tuple(name for name, v in vars(Runtime).items() if isinstance(v, property))
    return plain + props


def _forwarder(name: str, proto: Callable) -> Callable:
    @functools.wraps(proto)  # the Protocol's name, docstring and signature (inspect follows __wrapped__)
    def method(self, *args, **kwargs):
        return self._call(name, *args, **kwargs)

    return method


def forward_runtime(cls: type) -> type:
    """Class decorator: every Runtime method that `cls` does not define itself becomes a call of
    `self._call(name, *args, **kwargs)`, with the Protocol's signature and docstring."""
    for name, proto in runtime_methods().items():
        if name not in vars(cls):
            setattr(cls, name, _forwarder(name, proto))
    return cls
