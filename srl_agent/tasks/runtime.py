"""A sandbox at a task's start state: the task's own image (the bug already in it and hidden), checkpointed."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from srl_agent.errors import SandboxError
from srl_agent.task import Task
from srl_agent.tasks.images import build_task_image
from srl_agent.tasks.suite import load_recipe

if TYPE_CHECKING:
    from srl_agent.sandbox.sandbox import Sandbox


def resolve_image(task: Task) -> str:
    """The task's start-state image: for a bundled-suite task its task image (built here if missing: the package
    image, then one small layer with the bug), otherwise `task.image` as given (SWE-bench / SWE-Gym by name), with
    the bug layered in when the task's bug is a patch (SWE-smith rows; srl_agent/tasks/swebench.py)."""
    pkg = task.extra.get("package")
    if task.suite and pkg and task.extra.get("bug_patch"):
        try:
            spec = load_recipe(task.suite).package(pkg)
        except Exception:  # a suite that is not bundled here: trust the recorded tag
            spec = None
        if spec is not None and spec.version == task.version:
            return build_task_image(task, spec).tag
    if not task.image:
        raise SandboxError(f"task {task.instance_id} names no image; give one in its `image` field")
    if task.extra.get("bug_patch"):  # a published row whose bug is a patch (SWE-smith): its image + the bug layer
        from srl_agent.tasks.swebench import build_bug_layer

        return build_bug_layer(task.image, task.extra["bug_patch"], task.instance_id, task.workdir)
    return task.image


def start_task_sandbox(task: Task, **sandbox_kwargs) -> "Sandbox":
    """A started sandbox at the task's start state, checkpointed, that the caller closes."""
    from srl_agent.sandbox import start_sandbox

    sandbox_kwargs.setdefault("workdir", task.workdir)
    sb = start_sandbox(resolve_image(task), **sandbox_kwargs)
    try:
        sb.checkpoint()
    except BaseException:
        sb.close()
        raise
    return sb


@contextmanager
def task_sandbox(task: Task, **sandbox_kwargs) -> Iterator["Sandbox"]:
    """A `Sandbox` at the task's start state, checkpointed: `reset()` returns there and `diff()` is the agent's patch."""
    sb = start_task_sandbox(task, **sandbox_kwargs)
    try:
        yield sb
    finally:
        sb.close()
