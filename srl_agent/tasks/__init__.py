"""Task suites: pinned real packages, AST-mutation bugs, per-package images, and a sandbox at a task's start state."""

from srl_agent.tasks.runtime import resolve_image, task_sandbox
from srl_agent.tasks.suite import DEFAULT_SUITE, find_task, load_recipe, load_suite

__all__ = ["DEFAULT_SUITE", "find_task", "load_recipe", "load_suite", "resolve_image", "task_sandbox"]
