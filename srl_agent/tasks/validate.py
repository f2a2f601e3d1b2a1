"""Check tasks in containers: the gold patch resolves (FULL) and the start state (empty patch) does not."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from srl_agent.grading import grade_patch
from srl_agent.task import Task


@dataclass
class TaskCheck:
    instance_id: str
    gold: str      # status of the gold patch: FULL expected
    empty: str     # status with no patch: NO (or PARTIAL) expected
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.gold == "FULL" and self.empty in ("NO", "PARTIAL")


def check_task(task: Task) -> TaskCheck:
    """Grade the gold patch and the empty patch, each in a fresh container of the task image."""
    gold = grade_patch(task, task.gold_patch or "")
    empty = grade_patch(task, "")
    detail = gold.infra_error or gold.apply_error or empty.infra_error or ""
    if gold.status != "FULL" and not detail:
        detail = f"gold tests: {gold.tests_status}"
    return TaskCheck(task.instance_id, gold.status, empty.status, detail)


def sample_per_package(tasks: list[Task], n: int | None, seed: int = 0) -> list[Task]:
    """n tasks of each package (all when n is None), the same ones for the same seed."""
    if n is None:
        return list(tasks)
    groups: dict[str, list[Task]] = {}
    for t in tasks:
        groups.setdefault(t.extra.get("package") or t.repo, []).append(t)
    rng = random.Random(seed)
    return [t for k in sorted(groups) for t in rng.sample(groups[k], min(n, len(groups[k])))]


def validate_tasks(tasks: list[Task], *, workers: int = 2, on_done=None) -> list[TaskCheck]:
    def one(t: Task) -> TaskCheck:
        c = check_task(t)
        if on_done:
            on_done(c)
        return c

    with ThreadPoolExecutor(max(1, workers)) as pool:
        return list(pool.map(one, tasks))
