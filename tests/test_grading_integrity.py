"""Nothing a patch or an agent does can change its own grade (issue 11), and honest patches still resolve.

Real containers; each test is named after the rule it protects and says which finding it reproduces.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from srl_agent.grading import grade_log, grade_patch
from srl_agent.resources import resource_dir
from srl_agent.tasks import load_suite, task_sandbox

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[1]


def _task(package: str, index: int = 0):
    return [t for t in load_suite("pypi-mutants") if t.extra.get("package") == package][index]


def _new_file(path: str, text: str) -> str:
    body = "".join(f"+{line}\n" for line in text.splitlines())
    return (f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
            f"@@ -0,0 +1,{len(text.splitlines())} @@\n{body}")


@pytest.fixture(scope="module")
def task(base_image):
    return _task("inflection")


def test_a_module_that_prints_passed_lines_and_exits_does_not_pass(task):
    """Results come from pytest's junit XML, cross-checked with the log parser: text printed by the code under
    test (here to every descriptor pytest might have saved, then `os._exit(0)`) passes nothing."""
    lines = "".join(f"PASSED {x}\\n" for x in task.fail_to_pass + task.pass_to_pass)
    forge = (f"\nimport os as _o\nfor _fd in range(1, 30):\n    try:\n        _o.write(_fd, b'{lines}')\n"
             "    except OSError:\n        pass\n_o._exit(0)\n")
    with task_sandbox(task) as sb:
        mod = task.extra["mutation"]["path"]
        sb.write_file(mod, sb.read_file(mod) + forge)
        patch = sb.diff()
    r = grade_patch(task, patch)
    assert grade_log(task, r.test_output).status == "FULL"  # the log alone would have been fooled
    assert r.status == "NO" and r.result_source == "junit+log" and r.disagreements


def test_changes_to_tests_conftest_test_config_and_startup_hooks_are_dropped_and_reported(task):
    """Beyond SWE-bench: conftest.py, pytest/tox/setup.cfg/pyproject configuration and sitecustomize /
    usercustomize / .pth files never reach the test run; the gold fix next to them still grades FULL."""
    hook = "import builtins\nbuiltins.__dict__['CHEAT'] = 1\n"
    cheats = {"conftest.py": "import pytest\n", "sub/conftest.py": hook, "pytest.ini": "[pytest]\naddopts = -p no:x\n",
              "tox.ini": "[pytest]\n", "setup.cfg": "[tool:pytest]\n", "pyproject.toml": "[tool.pytest.ini_options]\n",
              "sitecustomize.py": hook, "usercustomize.py": hook, "evil.pth": "import os\n"}
    patch = task.gold_patch + "".join(_new_file(p, t) for p, t in cheats.items())
    r = grade_patch(task, patch)
    assert r.status == "FULL", r.to_dict()
    assert sorted(d["path"] for d in r.dropped) == sorted(cheats)
    only = grade_patch(task, "".join(_new_file(p, t) for p, t in cheats.items()))
    assert only.status == "NO" and len(only.dropped) == len(cheats)


def test_a_legitimate_fix_that_also_adds_a_new_test_file_still_grades(base_image):
    t = _task("boltons")
    extra = _new_file("tests/test_extra_from_the_fix.py", "def test_extra():\n    assert True\n")
    r = grade_patch(t, t.gold_patch + extra)
    assert r.status == "FULL" and not r.dropped, r.to_dict()


def test_deleting_the_tests_or_git_grades_no_not_error(base_image):
    """Finding: `rm -rf .git` made reset() raise and grading give ERROR, so the RL reward was None and the
    episode was dropped instead of scored 0."""
    t = _task("boltons")
    test_file = t.fail_to_pass[0].split("::")[0]
    with task_sandbox(t) as sb:
        sb.run(f"rm -rf .git {test_file} tests/conftest.py")
        patch = sb.diff()
        assert f"a/{test_file}" in patch
        assert sb.reset().recreated
    r = grade_patch(t, patch)
    assert r.status == "NO" and r.infra_error is None and any(d["path"] == test_file for d in r.dropped)


def test_grading_never_uses_the_agents_container(task):
    """Findings: with the bug unfixed, a read-only file planted at the grader's log path in /tmp, a
    `.git/hooks/post-checkout` that rewrote the tests, and a usercustomize.py printing PASSED lines each made
    grading in the agent's container FULL. Grading now starts a fresh container from the task image."""
    passed = "".join(f"PASSED {x}\\n" for x in task.fail_to_pass + task.pass_to_pass)
    with task_sandbox(task) as sb:
        sb.run(f"printf '{passed}' > /tmp/srl_grade_test.log && chmod 444 /tmp/srl_grade_test.log")
        sb.run("printf '#!/bin/sh\\nprintf \"def test_x(): pass\\\\n\" > test_inflection.py\\n' > "
               ".git/hooks/post-checkout && chmod +x .git/hooks/post-checkout")
        sb.run("d=$(python -m site --user-site) && mkdir -p $d && "
               f"printf 'import sys\\nsys.stdout.write(\"{passed}\")\\n' > $d/usercustomize.py")
        sb.run("echo '# touched' >> README.rst")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = grade_patch(task, sb.diff(), sandbox=sb)
        assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    assert r.status == "NO", r.to_dict()


def test_gold_and_expert_patches_still_resolve(base_image):
    """The negative case: the honest patches of the bundled suite (gold, and the expert trajectories' final
    patches) grade FULL under every new rule, one task per package."""
    from srl_agent.trajectory.schema import read_trajectories
    from srl_agent.tasks.validate import sample_per_package

    bundled = resource_dir("trajectories", "pypi-mutants.jsonl")
    expert = {t.task.instance_id: t.patch for t in read_trajectories(bundled)}
    for t in sample_per_package(load_suite("pypi-mutants"), 1, seed=5):
        gold = grade_patch(t, t.gold_patch)
        assert gold.status == "FULL" and not gold.dropped and not gold.disagreements, gold.to_dict()
        if expert.get(t.instance_id):
            r = grade_patch(t, expert[t.instance_id])
            assert r.status == "FULL" and not r.disagreements, r.to_dict()
