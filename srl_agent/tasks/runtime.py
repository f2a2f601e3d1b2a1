"""A sandbox at a task's start state: the package image, the bug applied and hidden in history, checkpointed."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from srl_agent.errors import SandboxError
from srl_agent.task import Task
from srl_agent.tasks.images import build_package_image
from srl_agent.tasks.suite import load_recipe

BUG_PATH = "/tmp/srl_task.patch"
# Folding the bug into the single commit (fixed dates) and pruning the old one leaves no trace of the fix in
# git (no diff, no log, no reflog), as in SWE-smith's task branches.
HIDE_BUG = ("git add -A && GIT_AUTHOR_DATE='2024-01-01T00:00:00+0000' GIT_COMMITTER_DATE='2024-01-01T00:00:00+0000' "
            "git commit -q --amend --no-edit && git reflog expire --expire=now --all && git prune --expire=now")


def resolve_image(task: Task) -> str:
    """The task's image: for a bundled-suite task the package image (built here if missing, a few seconds),
    otherwise `task.image` as given (SWE-bench / SWE-Gym images by name)."""
    pkg = task.extra.get("package")
    if task.suite and pkg:
        try:
            spec = load_recipe(task.suite).package(pkg)
        except Exception:  # a suite that is not bundled here: trust the recorded tag
            spec = None
        if spec is not None and spec.version == task.version:
            return build_package_image(spec).tag
    if not task.image:
        raise SandboxError(f"task {task.instance_id} names no image; give one in its `image` field")
    return task.image


def prepare_start_state(sb, task: Task, image: str = "") -> None:
    """Apply the task's bug (if any) in the sandbox and make it look like the repository's own state."""
    bug = task.extra.get("bug_patch")
    if not bug:
        return
    sb.write_file(BUG_PATH, bug)
    obs = sb.run(f"cd {task.workdir} && git apply {BUG_PATH} && rm -f {BUG_PATH} && {HIDE_BUG}", timeout=120)
    if obs.exit_code != 0:
        raise SandboxError(f"task {task.instance_id}: its bug patch does not apply to image {image!r}; "
                           f"rebuild with `srl tasks build {task.suite or 'SUITE'}`:\n{obs.output[-800:]}")


@contextmanager
def task_sandbox(task: Task, **sandbox_kwargs) -> Iterator:
    """A `Sandbox` at the task's start state, checkpointed: `reset()` returns there and `diff()` is the agent's patch."""
    from srl_agent.sandbox import Sandbox

    sandbox_kwargs.setdefault("workdir", task.workdir)
    image = resolve_image(task)
    with Sandbox(image, **sandbox_kwargs) as sb:
        prepare_start_state(sb, task, image)
        sb.checkpoint()
        yield sb
