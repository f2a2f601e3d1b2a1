"""The AST mutation engine: minimal text edits, every kind found, deterministic sampling."""

from __future__ import annotations

import ast

from srl_agent.tasks.mutate import KINDS, find_mutations, sample_mutations

SRC = '''\
"""Module doc."""
LIMIT = 3


def clamp(x, lo, hi):
    """Doc."""
    if x < lo:
        return lo
    if x > hi and not lo == hi:
        return hi
    return min(x + 1, hi) if x is not None else True


class Box:
    def size(self, items):
        total = 0
        for i in range(len(items)):
            total += items[i] * 2
        return total
'''


def test_every_kind_is_found_and_each_mutant_parses():
    muts = find_mutations("pkg/mod.py", SRC)
    assert {m.kind for m in muts} == set(KINDS)
    for m in muts:
        out = m.apply(SRC)
        ast.parse(out)
        assert out != SRC


def test_module_level_code_and_docstrings_are_not_mutated():
    """Mutating constants at import time or docstrings makes bugs no test can reach or that are not bugs."""
    muts = find_mutations("pkg/mod.py", SRC)
    assert all(m.function for m in muts)
    assert not any("Doc" in m.old for m in muts)


def test_edits_are_minimal_one_token_changes():
    muts = {(m.kind, m.old, m.new) for m in find_mutations("pkg/mod.py", SRC)}
    assert ("compare_op", " < ", " <= ") in muts
    assert ("bool_op", " and ", " or ") in muts
    assert ("arith_op", " + ", " - ") in muts
    assert ("swap_args", "x + 1, hi", "hi, x + 1") in muts
    assert ("drop_not", "not lo == hi", "lo == hi") in muts


def test_remove_branch_deletes_whole_if_lines():
    m = next(m for m in find_mutations("pkg/mod.py", SRC) if m.kind == "remove_branch" and "x < lo" in m.old)
    out = m.apply(SRC)
    assert "if x < lo" not in out and "return lo\n" not in out


def test_non_ascii_columns_are_characters_not_bytes():
    src = 'def f(s):\n    return "é" + s if len(s) > 1 else s\n'
    m = next(m for m in find_mutations("m.py", src) if m.kind == "compare_op")
    assert m.apply(src) == 'def f(s):\n    return "é" + s if len(s) >= 1 else s\n'


def test_sampling_is_deterministic_for_a_seed_and_interleaves_kinds():
    muts = find_mutations("pkg/mod.py", SRC)
    a, b = sample_mutations(muts, 7), sample_mutations(list(reversed(muts)), 7)
    assert [m.key for m in a] == [m.key for m in b]
    assert sorted(m.key for m in a) == sorted(m.key for m in muts)
    assert len({m.kind for m in a[: len(KINDS)]}) == len(KINDS)
    assert [m.key for m in sample_mutations(muts, 8)] != [m.key for m in a]
