"""The grader's patch filter and its junit cross-check, without Docker."""

from __future__ import annotations

from srl_agent.grading import combine, grade_log, parse_junit
from srl_agent.patch_filter import filter_patch, split_patch
from srl_agent.task import Task

TASK = Task(instance_id="t", fail_to_pass=["tests/test_a.py::test_one"], pass_to_pass=["tests/test_a.py::K::test_two"])


def _mod(path: str) -> str:
    return f"diff --git a/{path} b/{path}\nindex 1..2 100644\n--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n"


def _new(path: str) -> str:
    return f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+x\n"


def test_split_handles_git_plain_renames_quoted_and_binary_sections():
    patch = (_mod("src/a.py") + "diff --git a/old.py b/new.py\nsimilarity index 90%\nrename from old.py\n"
             "rename to new.py\n" + 'diff --git "a/sp ace\\303\\251.py" "b/sp ace\\303\\251.py"\nindex 1..2\n'
             "Binary files differ\n" + "diff --git a/with space.py b/with space.py\ndeleted file mode 100644\n")
    parts = split_patch(patch)
    assert [(p.old, p.new) for p in parts] == [("src/a.py", "src/a.py"), ("old.py", "new.py"),
                                             ("sp aceé.py", "sp aceé.py"), ("with space.py", None)]
    plain = split_patch("--- a/x.py\t2024\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n")
    assert [(p.old, p.new) for p in plain] == [("x.py", "x.py")]


def test_filter_drops_tests_config_hooks_and_git_keeps_source_and_new_tests():
    patch = "".join([_mod("src/a.py"), _mod("tests/test_a.py"), _mod("tests/helpers.py"), _new("tests/test_new.py"),
                     _new("tests/__init__.py"), _new("pkg/conftest.py"), _mod("setup.cfg"), _mod("pyproject.toml"),
                     _new("lib/sitecustomize.py"), _new("x.pth"), _mod(".git/config"), _new("README.md")])
    kept, dropped = filter_patch(patch, TASK)
    assert [p.new for p in split_patch(kept)] == ["src/a.py", "tests/test_new.py", "README.md"]
    assert {d.path: d.reason for d in dropped} == {
        "tests/test_a.py": "a test file of the task", "tests/helpers.py": "an existing file in the task's test directories",
        "tests/__init__.py": "a new package marker in the task's test directories",
        "pkg/conftest.py": "conftest.py (pytest plugin)", "setup.cfg": "test configuration",
        "pyproject.toml": "test configuration", "lib/sitecustomize.py": "Python start-up hook",
        "x.pth": "Python start-up hook", ".git/config": "the repository's .git"}


def test_a_rename_out_of_the_tests_is_dropped_as_a_whole():
    patch = "diff --git a/tests/test_a.py b/gone.py\nsimilarity index 100%\nrename from tests/test_a.py\nrename to gone.py\n"
    kept, dropped = filter_patch(patch, TASK)
    assert kept == "" and [d.path for d in dropped] == ["tests/test_a.py"]


JUNIT = b"""<?xml version="1.0"?><testsuites><testsuite>
<testcase classname="tests.test_a" name="test_one" file="tests/test_a.py"/>
<testcase classname="tests.test_a.K" name="test_two" file="tests/test_a.py"><failure message="x"/></testcase>
<testcase classname="tests.test_a" name="test_p[1.5-a]" file="tests/test_a.py"><skipped type="pytest.xfail"/></testcase>
</testsuite></testsuites>"""


def test_junit_node_ids_and_statuses():
    assert parse_junit(JUNIT) == {"tests/test_a.py::test_one": "PASSED", "tests/test_a.py::K::test_two": "FAILED",
                                  "tests/test_a.py::test_p[1.5-a]": "XFAIL"}
    assert parse_junit(b"") is None and parse_junit(b"<not xml") is None


def test_a_test_passes_only_when_log_and_junit_agree():
    log = "PASSED tests/test_a.py::test_one\nPASSED tests/test_a.py::K::test_two\n"
    status, disagree = combine({"tests/test_a.py::test_one": "PASSED", "tests/test_a.py::K::test_two": "PASSED"},
                               parse_junit(JUNIT), TASK.fail_to_pass + TASK.pass_to_pass)
    assert status["tests/test_a.py::test_one"] == "PASSED" and status["tests/test_a.py::K::test_two"] == "FAILED"
    assert disagree == ["tests/test_a.py::K::test_two"]
    assert grade_log(TASK, log).status == "FULL"
    assert grade_log(TASK, log, junit=JUNIT, use_junit=True).status == "NO"
    assert grade_log(TASK, log, junit=None, use_junit=True).status == "NO"  # no XML: nothing passed
