"""Discovery rules (pure) and, slow, that discovery reproduces the committed tasks exactly."""

from __future__ import annotations

import random

import pytest

from srl_agent.tasks.discover import P2P_SAMPLE, _p2p, _reject_reason

STABLE = [f"tests/test_a.py::test_{i}" for i in range(30)] + [f"tests/test_b.py::test_{i}" for i in range(3)] + \
         [f"tests/test_c.py::test_p[{i}]" for i in range(40)]


def _sm(failing: set[str]) -> dict[str, str]:
    return {t: ("FAILED" if t in failing else "PASSED") for t in STABLE}


def test_a_mutant_qualifies_when_one_to_a_few_tests_fail():
    assert _reject_reason(_sm({"tests/test_a.py::test_1"}), STABLE) == ("", ["tests/test_a.py::test_1"])
    assert _reject_reason(_sm(set()), STABLE)[0] == "none fail"
    assert _reject_reason({}, STABLE)[0] == "no result"
    four = {f"tests/test_a.py::test_{i}" for i in range(4)}
    assert _reject_reason(_sm(four), STABLE)[0] == "too many fail"


def test_a_parametrized_test_counts_once():
    """Many failing cases of one parametrized test are one failing test (up to MAX_FAIL_IDS cases)."""
    cases = {f"tests/test_c.py::test_p[{i}]" for i in range(12)}
    assert _reject_reason(_sm(cases), STABLE)[0] == ""
    assert _reject_reason(_sm({f"tests/test_c.py::test_p[{i}]" for i in range(40)}), STABLE)[0] == "too many fail"


def test_a_test_that_did_not_run_counts_as_failing():
    sm = _sm(set())
    del sm["tests/test_b.py::test_0"]
    assert _reject_reason(sm, STABLE) == ("", ["tests/test_b.py::test_0"])


def test_pass_to_pass_comes_from_the_failing_file_and_is_topped_up_when_small():
    p2p, files = _p2p(random.Random(0), ["tests/test_a.py::test_1"], STABLE)
    assert files == ["tests/test_a.py"] and len(p2p) == P2P_SAMPLE and "tests/test_a.py::test_1" not in p2p
    p2p, files = _p2p(random.Random(0), ["tests/test_b.py::test_1"], STABLE)
    assert "tests/test_b.py" in files and len(files) >= 2
    assert {t.split("::")[0] for t in p2p} <= set(files) and len(p2p) >= P2P_SAMPLE // 2


@pytest.mark.docker
@pytest.mark.slow
def test_discovery_reproduces_the_committed_tasks(base_image):
    """The suite is deterministic for its seed: rediscovering one package gives the committed tasks, byte for byte."""
    from srl_agent.tasks import load_recipe, load_suite
    from srl_agent.tasks.discover import discover_package

    suite = load_recipe("pypi-mutants")
    tasks, _ = discover_package(suite, suite.package("toolz"), log=lambda *_: None)
    committed = [t for t in load_suite("pypi-mutants") if t.extra["package"] == "toolz"]
    assert [t.to_dict() for t in tasks] == [t.to_dict() for t in committed]
