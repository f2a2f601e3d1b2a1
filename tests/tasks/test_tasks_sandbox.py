"""Package images and task sandboxes in real containers: the start state, the hidden bug, gold patches resolving."""

from __future__ import annotations

import pytest

from srl_agent.tasks import load_recipe, load_suite, task_sandbox
from srl_agent.tasks.images import build_package_image
from srl_agent.tasks.validate import check_task, sample_per_package


def _tasks():
    return load_suite("pypi-mutants")


@pytest.mark.docker
def test_package_image_build_is_idempotent_and_its_commit_is_pinned(base_image):
    import subprocess

    spec = load_recipe("pypi-mutants").package("inflection")
    first = build_package_image(spec)
    again = build_package_image(spec)
    assert again.tag == first.tag and not again.built
    commit = subprocess.run(["docker", "run", "--rm", first.tag, "git", "rev-parse", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert {t.base_commit for t in _tasks() if t.extra["package"] == "inflection"} == {commit}


@pytest.mark.docker
def test_task_sandbox_starts_at_the_bug_with_no_trace_of_the_fix(base_image):
    """The agent must not be able to read the fix from git (diff, log, reflog) in its sandbox."""
    task = _tasks()[0]
    mutation = task.extra["mutation"]
    with task_sandbox(task) as sb:
        assert sb.run("git status --porcelain").output.strip() == ""
        assert sb.run("git diff HEAD").output.strip() == ""
        log = sb.run("git log --all --format=%s; git reflog --all").output
        assert task.base_commit[:7] not in log
        assert sb.run(f"git cat-file -t {task.base_commit}").exit_code != 0
        assert "unreachable" not in sb.run("git fsck --unreachable --no-reflogs 2>&1").output  # no clean blob left
        assert mutation["new"].strip() in sb.read_file(mutation["path"]) or mutation["kind"] == "remove_branch"
        assert sb.diff() == ""
        sb.run(f"echo '# edit' >> {mutation['path']}")
        assert "# edit" in sb.diff()
        sb.reset()
        assert sb.diff() == ""


@pytest.mark.docker
def test_gold_resolves_and_start_state_does_not_one_task_per_package(base_image):
    for task in sample_per_package(_tasks(), 1, seed=1):
        check = check_task(task)
        assert check.ok, (task.instance_id, check)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("task", _tasks(), ids=lambda t: t.instance_id)
def test_every_gold_patch_resolves(base_image, task):
    check = check_task(task)
    assert check.ok, check
