"""The bundled suite: recipe, tasks file, split by package, sdist cache."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from srl_agent.errors import InputError
from srl_agent.tasks import load_recipe, load_suite
from srl_agent.tasks.sdist import fetch_sdist
from srl_agent.tasks.suite import PackageSpec


def test_suite_has_60_tasks_over_5_packages_with_a_package_split():
    tasks = load_suite("pypi-mutants")
    recipe = load_recipe("pypi-mutants")
    assert len(tasks) >= 60
    per_pkg = Counter(t.extra["package"] for t in tasks)
    assert len(per_pkg) >= 5
    split_of = {p.name: p.split for p in recipe.packages}
    for t in tasks:
        assert t.split == split_of[t.extra["package"]], t.instance_id
    train = {t.extra["package"] for t in tasks if t.split == "train"}
    test = {t.extra["package"] for t in tasks if t.split == "test"}
    assert train and test and not train & test
    assert len({t.instance_id for t in tasks}) == len(tasks)


def test_split_filter_and_unknown_split():
    assert {t.split for t in load_suite("pypi-mutants", split="test")} == {"test"}
    with pytest.raises(InputError, match="split"):
        load_suite("pypi-mutants", split="nope")


def test_tasks_are_complete_swe_style_records():
    for t in load_suite("pypi-mutants"):
        assert 1 <= len(t.fail_to_pass) and t.pass_to_pass and not set(t.fail_to_pass) & set(t.pass_to_pass)
        assert t.gold_patch.startswith("diff --git a/") and t.extra["bug_patch"].startswith("diff --git a/")
        assert len(t.base_commit) == 40 and t.test_command.startswith("python3 -m pytest -rA")
        assert t.extra["mutation"]["kind"] and t.problem_statement


def test_unknown_suite_says_what_exists():
    with pytest.raises(InputError, match="pypi-mutants"):
        load_suite("no-such-suite")


def test_recipe_pins_versions_and_hashes():
    for p in load_recipe("pypi-mutants").packages:
        assert len(p.sha256) == 64 and p.version and p.split in ("train", "test")


def test_cached_sdist_is_used_when_its_hash_matches(tmp_path):
    """A pinned sdist already in the cache is not downloaded again."""
    data = b"not really a tarball"
    spec = PackageSpec("demo", "1.0", hashlib.sha256(data).hexdigest(), "train", ("demo",), "tests")
    d = tmp_path / "sdists" / spec.key
    d.mkdir(parents=True)
    (d / "demo-1.0.tar.gz").write_bytes(data)
    assert fetch_sdist(spec, cache=tmp_path) == d / "demo-1.0.tar.gz"


def test_cli_list_and_show_do_not_reveal_the_fix_unless_asked(capsys):
    from srl_agent.cli import main

    assert main(["tasks", "list", "pypi-mutants", "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "21 tasks (test: 21)" in out and "boltons" not in out
    task = load_suite("pypi-mutants")[0]
    assert main(["tasks", "show", task.instance_id]) == 0
    out = capsys.readouterr().out
    assert task.problem_statement.strip() in out and "diff --git" not in out
    assert main(["tasks", "show", task.instance_id, "--gold"]) == 0
    assert task.gold_patch.strip() in capsys.readouterr().out


def test_cli_unknown_task_is_one_line_error(capsys):
    from srl_agent.cli import main

    assert main(["tasks", "show", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no task 'nope'" in err and "Traceback" not in err
