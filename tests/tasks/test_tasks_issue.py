"""Issue texts: built from the failing run's output, and never naming a test or the fixed file."""

from __future__ import annotations

import re

import pytest

from srl_agent.tasks.issue import failure_section, leaks, parse_symptom, write_issue

LOG = """\
=================================== FAILURES ===================================
________________________ test_camelize[Product-product] ________________________

camel = 'Product', underscore = 'product'

    @pytest.mark.parametrize(("camel", "underscore"), CAMEL_TO_UNDERSCORE)
    def test_camelize(camel, underscore):
>       assert camel == inflection.camelize(underscore)
E       AssertionError: assert 'Product' == 'product'
E         - product
E         + Product

test_inflection.py:344: AssertionError
________________________ test_other ________________________

    def test_other():
>       helper(1)

test_inflection.py:350:
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _

>   return x[LIMIT]
E   IndexError: list index out of range

inflection/__init__.py:12: IndexError
=========================== short test summary info ============================
"""


def test_failure_section_and_symptom_come_from_the_log():
    sec = failure_section(LOG, "test_inflection.py::test_camelize[Product-product]")
    s = parse_symptom(sec)
    assert s.statement == "assert camel == inflection.camelize(underscore)"
    assert s.values == ["camel = 'Product', underscore = 'product'"]
    assert s.error[0] == "AssertionError: assert 'Product' == 'product'"


def test_symptom_takes_the_test_frame_statement_not_library_code():
    """Deeper frames show library source, the very code of the bug; only the test's own line is used."""
    s = parse_symptom(failure_section(LOG, "test_inflection.py::test_other"))
    assert s.statement == "helper(1)" and s.error == ["IndexError: list index out of range"]


def test_issue_mentions_function_input_and_outcome_but_no_test_or_path():
    s = parse_symptom(failure_section(LOG, "test_inflection.py::test_camelize[Product-product]"))
    forbidden = ["test_camelize", "test_inflection.py", "inflection/__init__.py", "__init__.py"]
    text = write_issue(package="inflection", version="0.5.1", function="inflection.camelize", symptom=s,
                       forbidden=forbidden, seed=1)
    assert "inflection.camelize" in text and "'product'" in text and "AssertionError" in text
    assert leaks(text, ["test_inflection.py::test_camelize[Product-product]"], ["inflection/__init__.py"]) == []


def test_leaks_finds_names_and_paths():
    assert leaks("see test_camelize in inflection/__init__.py", ["t.py::test_camelize[x]"],
                 ["inflection/__init__.py"]) == ["__init__.py", "inflection/__init__.py", "test_camelize"]


def _suite_tasks():
    from srl_agent.tasks import load_suite

    return load_suite("pypi-mutants")


def _fix_paths(patch: str) -> list[str]:
    return sorted(set(re.findall(r"^\+\+\+ b/(\S+)", patch, re.M)))


def test_no_bundled_issue_text_leaks_a_test_name_or_fix_path():
    """The agent must find the bug from the symptom; a test name or the file path would give it away."""
    tasks = _suite_tasks()
    assert tasks
    for t in tasks:
        paths = _fix_paths(t.gold_patch or "")
        assert paths, t.instance_id
        assert leaks(t.problem_statement, t.fail_to_pass + t.pass_to_pass, paths) == [], t.instance_id
        assert "diff --git" not in t.problem_statement and "@@" not in t.problem_statement
        assert not re.search(r"\.py:\d+", t.problem_statement), t.instance_id


def test_bundled_issue_texts_describe_a_symptom():
    for t in _suite_tasks():
        text = t.problem_statement
        assert t.repo in text and t.version in text, t.instance_id
        assert any(w in text for w in ("Error", "differ", "raises", "fails")), t.instance_id


@pytest.mark.parametrize("field", ["fail_to_pass", "pass_to_pass"])
def test_bundled_test_ids_parse_with_swebench(field):
    """Ids with spaces or unbalanced brackets would not survive swebench's pytest log parser."""
    for t in _suite_tasks():
        for tid in getattr(t, field):
            assert "::" in tid and not re.search(r"\s", tid) and tid.count("[") == tid.count("]")


SOURCE = '''\
import pytest


class TestThing:
    def test_long(self):
        """Doc."""
        x = make()
''' + "".join(f"        y{i} = {i}\n" for i in range(30)) + '''        assert camelize(x) == "A"
        assert more()


def test_short(v):
    assert camelize(v) == "B"
'''


def test_body_is_the_test_code_without_its_name():
    """The reproduction is the test's own code (what actually ran), never its def line or docstring."""
    from srl_agent.tasks.issue import test_body

    assert test_body(SOURCE, "t.py::test_short[x]") == ['assert camelize(v) == "B"']
    long = test_body(SOURCE, "t.py::TestThing::test_long", 'assert camelize(x) == "A"')
    assert long[-1] == 'assert camelize(x) == "A"' and len(long) <= 20
    assert not any("test_long" in line or "Doc." in line for line in long)
    assert test_body(SOURCE, "t.py::TestThing::test_long", "no such line") == []
    assert test_body(SOURCE, "t.py::test_missing") == []
