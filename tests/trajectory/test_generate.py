"""The scripted expert: gold patches as str_replace edits, issue parsing, seeded wording, and (in Docker) generated
trajectories that explore, reproduce, fix, test and submit, every one resolving."""

from __future__ import annotations

import json
import random

import pytest

from srl_agent.trajectory.expert_phrases import PHRASES, say
from srl_agent.trajectory.expert_script import (ExpertScriptError, edits_for_file, enclosing_symbol, example_script,
                                                module_imports, parse_issue, parse_patch, value_assignments)

SOURCE = """import re


def ordinal(number):
    number = abs(int(number))
    if number // 100 in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd"}.get(number % 10, "th")


def check(x):
    if x:
        return 1
    return 0
"""

GOLD = SOURCE.replace("number // 100", "number % 100")

PATCH = """diff --git a/pkg/mod.py b/pkg/mod.py
index 1111111..2222222 100644
--- a/pkg/mod.py
+++ b/pkg/mod.py
@@ -3,7 +3,7 @@ import re
 
 def ordinal(number):
     number = abs(int(number))
-    if number // 100 in (11, 12, 13):
+    if number % 100 in (11, 12, 13):
         return "th"
     return {1: "st", 2: "nd"}.get(number % 10, "th")
 
"""

ISSUE = """`pkg.ordinal` gives a wrong result

I'm using pkg 1.0 and `pkg.ordinal` does not do what the documentation says.

With these inputs:

    number = '-11', ordinalized = '-11th'

Running this:

    assert ordinalized == number + pkg.ordinal(number)

The values differ from what I expected:

    AssertionError: assert '-11th' == '-11st'

Expected the call to give the documented result.
"""


def test_gold_patch_becomes_minimal_unique_str_replace_edits():
    hunks = parse_patch(PATCH)
    assert [(h.path, h.first_changed_line) for h in hunks] == [("pkg/mod.py", 6)]
    (old, new), = edits_for_file(SOURCE, hunks, GOLD)
    assert old == "    if number // 100 in (11, 12, 13):" and new == "    if number % 100 in (11, 12, 13):"
    with_context = edits_for_file(SOURCE, hunks, GOLD, context=1)[0][0]
    assert with_context.count("\n") == 2 and SOURCE.count(with_context) == 1


def test_an_added_branch_gets_an_anchor_line_and_ambiguous_lines_more_context():
    """A pure insertion has no old text of its own; a changed line that occurs twice needs context to be unique."""
    buggy = "def f(x):\n    y = 1\n    return y\n\n\ndef g(x):\n    y = 1\n    return y\n"
    gold = buggy.replace("def g(x):\n    y = 1\n", "def g(x):\n    if x is None:\n        return 0\n    y = 1\n")
    patch = ("--- a/m.py\n+++ b/m.py\n@@ -5,4 +5,6 @@\n \n def g(x):\n+    if x is None:\n+        return 0\n"
             "     y = 1\n     return y\n")
    (old, new), = edits_for_file(buggy, parse_patch(patch), gold)
    assert buggy.count(old) == 1 and buggy.replace(old, new) == gold
    assert old.startswith("def g(x):")


def test_edits_that_do_not_reproduce_the_gold_file_are_refused():
    with pytest.raises(ExpertScriptError):
        edits_for_file(SOURCE, parse_patch(PATCH), GOLD + "# something else\n")


def test_enclosing_symbol_skips_nested_definitions_that_do_not_hold_the_line():
    text = "def outer(a):\n    def inner(b):\n        return b\n\n    x = [\n        inner(a),\n    ]\n    return x\n"
    assert enclosing_symbol(text, 6) == "outer"
    assert enclosing_symbol(text, 3) == "inner"
    assert enclosing_symbol(SOURCE, 14) == "check"


def test_issue_example_becomes_a_runnable_reproduction_script():
    issue = parse_issue(ISSUE, "pkg")
    assert (issue.symbol, issue.qualified, issue.error_kind) == ("ordinal", "pkg.ordinal", "AssertionError")
    assert value_assignments(issue.values) == ["number = '-11'", "ordinalized = '-11th'"]
    imports = module_imports("import os\nimport pytest\nimport pkg\nfrom pkg.sub import x\nfrom . import y\n",
                             ("pkg",))
    assert imports == ["import os", "import pkg", "from pkg.sub import x"]
    script = example_script(issue, imports, random.Random(0))
    compile(script, "repro.py", "exec")
    assert "assert ordinalized == number + pkg.ordinal(number)" in script and "number = '-11'" in script


CODE_ISSUE = """`chunk_ranges` gives a wrong result

I'm using boltons 24.0.0 and `chunk_ranges` does not do what the documentation says.

Minimal example:

    from boltons.iterutils import chunk_ranges

    assert list(chunk_ranges(10, 10, 5)) == [(10, 15), (15, 20)]
    assert list(chunk_ranges(4, 15, 5)) == [(4, 9), (9, 14), (14, 19)]

It fails at:

    assert list(chunk_ranges(10, 10, 5)) == [(10, 15), (15, 20)]

The values differ from what I expected:

    assert [(10, 5), (15, 10)] == [(10, 15), (15, 20)]

This used to work; it looks like a regression.
"""


def test_an_example_block_with_blank_lines_is_read_whole():
    issue = parse_issue(CODE_ISSUE, "boltons")
    assert issue.code[0] == "from boltons.iterutils import chunk_ranges" and issue.code[1] == ""
    assert len(issue.code) == 4 and issue.statement.startswith("assert list(chunk_ranges(10, 10, 5))")
    script = example_script(issue, ["import os", "from boltons.iterutils import first"], random.Random(2))
    compile(script, "repro.py", "exec")
    assert "chunk_ranges(4, 15, 5)" in script and "import os" not in script, "only the imports it uses"


TEST_MODULE = """import pytest
from pkg import ordinal, other

TABLE = [1, 2, 3]
UNUSED = object()


def helper(x):
    return x + len(TABLE)


class TestOrdinal:
    def test_th(self):
        value = helper(8)
        assert ordinal(value) == 'th'
        assert other() is None
"""


def test_failing_scenario_with_its_setup_becomes_a_script():
    """When the issue's snippet uses names it does not define, the script takes them from the test module."""
    from srl_agent.trajectory.expert_script import test_body_script

    issue = parse_issue(ISSUE.replace("assert ordinalized == number + pkg.ordinal(number)",
                                      "assert ordinal(value) == 'th'").replace(
        "    number = '-11', ordinalized = '-11th'", "    value = 11"), "pkg")
    script = test_body_script(TEST_MODULE, "tests/test_o.py::TestOrdinal::test_th", issue, ("pkg",), set(),
                              "/testbed/tests", random.Random(1))
    compile(script, "repro.py", "exec")
    assert "def helper(x):" in script and "TABLE = [1, 2, 3]" in script and "UNUSED" not in script
    assert "self = unittest.TestCase()" in script and "value = helper(8)" in script
    assert "assert ordinal(value) == 'th'" in script and "other()" not in script, "stops at the issue's statement"


def test_thoughts_vary_with_the_seed_and_are_reproducible():
    facts = dict(symbol="ordinal", qualified="pkg.ordinal", file="pkg/mod.py", line=6, package="pkg")
    worded = {say(random.Random(s), "grep_def", **facts) for s in range(40)}
    assert len(worded) == len(PHRASES["grep_def"])
    assert say(random.Random(3), "view", **facts) == say(random.Random(3), "view", **facts)
    assert all("{" not in t for t in worded)


# ---- real tasks in containers ---------------------------------------------------------------------------------

def suite_tasks(split: str | None = None):
    """The bundled suite's tasks (skips, saying why, when its tasks file is not there; fails in CI)."""
    import os

    from srl_agent.errors import InputError
    from srl_agent.tasks import DEFAULT_SUITE, load_suite

    try:
        return [t for t in load_suite(DEFAULT_SUITE, split=split) if t.gold_patch]
    except InputError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the bundled suite must be there in CI: {exc}")
        pytest.skip(f"the bundled task suite is not available here ({exc})")


def _two_tasks():
    by_pkg = {}
    for t in suite_tasks("train"):
        by_pkg.setdefault(t.extra.get("package"), t)
    return list(by_pkg.values())[:2]


@pytest.fixture(scope="module")
def generated(docker_engine, tmp_path_factory):
    from srl_agent.cli import main

    tasks = _two_tasks()
    out = tmp_path_factory.mktemp("gen") / "gen.jsonl"
    rc = main(["traj", "generate", "--tasks", "pypi-mutants:train", "-o", str(out), "--per-task", "2",
               "--seed", "7", "--instance-ids", ",".join(t.instance_id for t in tasks)])
    return tasks, out, rc


@pytest.mark.docker
def test_every_generated_trajectory_resolves_and_was_executed(generated):
    from srl_agent.trajectory import read_trajectories

    tasks, out, rc = generated
    trajs = list(read_trajectories(out))
    assert rc == 0 and len(trajs) == 2 * len(tasks)
    for t in trajs:
        tools = [s.action.tool for s in t.steps]
        assert t.resolved is True and t.meta["grade"] == "FULL" and t.patch.strip()
        assert tools[-1] == "submit" and t.steps[-1].observation == t.patch
        assert "str_replace_editor" in tools and all(s.thought.strip() for s in t.steps)
        commands = [s.action.args.get("command", "") for s in t.steps]
        assert "create" in commands and "str_replace" in commands
        assert any("pytest" in c for c in commands), "the expert runs the tests before submitting"
        assert all(s.exit_code is not None for s in t.steps), "every step was executed"
        assert all(s.observation for s in t.steps if s.action.tool == "str_replace_editor"), "observations are real"
        assert "reproduce" not in t.patch and "repro" not in t.patch, "the reproduction script is not submitted"


@pytest.mark.docker
def test_trajectories_of_one_task_differ_in_wording_and_commands(generated):
    _, out, _ = generated
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    first, second = rows[0], rows[1]
    assert first["task"]["instance_id"] == second["task"]["instance_id"]
    texts = lambda r: [(s["thought"], json.dumps(s["action"])) for s in r["steps"]]  # noqa: E731
    assert texts(first) != texts(second)
    assert first["meta"]["seed"] != second["meta"]["seed"]
