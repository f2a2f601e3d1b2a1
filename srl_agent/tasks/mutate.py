"""AST mutation engine: find small, realistic bug injections in library source and apply them as minimal text edits."""

from __future__ import annotations

import ast
import random
import re
from dataclasses import asdict, dataclass

from srl_agent import pyast

# Each kind is one bug class of the suite; the text edit touches only the tokens that change, so the diff
# (and the gold patch, its reverse) looks like a human's one-line fix.
KINDS = ("compare_op", "bool_op", "arith_op", "off_by_one", "swap_args", "remove_branch", "constant", "drop_not")

_COMPARE_SWAP = {ast.Lt: "<=", ast.LtE: "<", ast.Gt: ">=", ast.GtE: ">", ast.Eq: "!=", ast.NotEq: "==",
                 ast.Is: "is not", ast.IsNot: "is", ast.In: "not in", ast.NotIn: "in"}
_COMPARE_TOKEN = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
                  ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
_ARITH = {ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "//"), ast.FloorDiv: ("//", "*"),
          ast.Mod: ("%", "//"), ast.BitAnd: ("&", "|"), ast.BitOr: ("|", "&"), ast.LShift: ("<<", ">>"),
          ast.RShift: (">>", "<<")}


@dataclass(frozen=True)
class Mutation:
    """Replace text[start:end] of line range [line, end_line] (1-based, columns in characters) by `new`."""
    path: str
    kind: str
    line: int
    col: int
    end_line: int
    end_col: int
    old: str
    new: str
    function: str | None  # enclosing def / class.def, for the issue text and for spreading tasks

    @property
    def key(self) -> str:
        return f"{self.path}:{self.line}:{self.col}:{self.kind}:{self.new}"

    def apply(self, source: str) -> str:
        lines = source.splitlines(keepends=True)
        start = sum(len(x) for x in lines[: self.line - 1]) + self.col
        end = sum(len(x) for x in lines[: self.end_line - 1]) + self.end_col
        if source[start:end] != self.old:
            raise ValueError(f"{self.path}:{self.line}: source does not match the mutation site")
        return source[:start] + self.new + source[end:]

    def to_dict(self) -> dict:
        return asdict(self)


def _char_col(line_text: str, byte_col: int) -> int:
    """ast columns count UTF-8 bytes; text edits need characters."""
    return len(line_text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


class _Finder(ast.NodeVisitor):
    def __init__(self, path: str, source: str):
        self.path, self.lines, self.out = path, source.splitlines(keepends=True), []
        self.scope: list[str] = []

    # -- helpers --------------------------------------------------------------------------------------
    def _span(self, node: ast.AST) -> tuple[int, int, int, int]:
        l1, l2 = node.lineno, node.end_lineno
        return (l1, _char_col(self.lines[l1 - 1], node.col_offset), l2, _char_col(self.lines[l2 - 1], node.end_col_offset))

    def _text(self, l1, c1, l2, c2) -> str:
        if l1 == l2:
            return self.lines[l1 - 1][c1:c2]
        return self.lines[l1 - 1][c1:] + "".join(self.lines[l1:l2 - 1]) + self.lines[l2 - 1][:c2]

    def _add(self, kind, l1, c1, l2, c2, new):
        old = self._text(l1, c1, l2, c2)
        if old != new:
            fn = ".".join(self.scope) or None
            self.out.append(Mutation(self.path, kind, l1, c1, l2, c2, old, new, fn))

    def _gap_swap(self, kind, left: ast.AST, right: ast.AST, token: str, new_token: str):
        """Swap the operator token that sits between two single-line operands on the same line."""
        _, _, la, ca = self._span(left)
        lb, cb, _, _ = self._span(right)
        if la != lb:
            return
        gap = self.lines[la - 1][ca:cb]
        m = re.fullmatch(r"([\s()]*)" + re.escape(token).replace(r"\ ", r"\s+") + r"([\s()]*)", gap)
        if m:
            self._add(kind, la, ca, la, cb, m.group(1) + new_token + m.group(2))

    def _in_scope(self) -> bool:
        return bool(self.scope)

    # -- visitors -------------------------------------------------------------------------------------
    def visit_FunctionDef(self, node):
        self.scope.append(node.name)
        for stmt in node.body:
            self.visit(stmt)
        self.scope.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self.scope.append(node.name)
        for stmt in node.body:
            self.visit(stmt)
        self.scope.pop()

    def visit_Expr(self, node):
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return  # docstrings
        self.generic_visit(node)

    def visit_Compare(self, node):
        if self._in_scope() and len(node.ops) == 1:
            op = type(node.ops[0])
            self._gap_swap("compare_op", node.left, node.comparators[0], _COMPARE_TOKEN[op], _COMPARE_SWAP[op])
        self.generic_visit(node)

    def visit_BoolOp(self, node):
        if self._in_scope() and len(node.values) == 2:
            tok, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
            self._gap_swap("bool_op", node.values[0], node.values[1], tok, new)
        self.generic_visit(node)

    def visit_BinOp(self, node):
        if self._in_scope() and type(node.op) in _ARITH:
            strings = any(isinstance(x, (ast.Constant, ast.JoinedStr)) and isinstance(getattr(x, "value", ""), str)
                          for x in (node.left, node.right))
            if not strings:  # '%'-formatting and string '+' make noisy, unrealistic bugs
                tok, new = _ARITH[type(node.op)]
                self._gap_swap("arith_op", node.left, node.right, tok, new)
        self.generic_visit(node)

    def visit_UnaryOp(self, node):
        if self._in_scope() and isinstance(node.op, ast.Not) and node.lineno == node.end_lineno:
            l1, c1, l2, c2 = self._span(node)
            text = self._text(l1, c1, l2, c2)
            inner = self._text(*self._span(node.operand))
            if text.startswith("not ") and text.endswith(inner):
                self._add("drop_not", l1, c1, l2, c2, inner if text[4:].strip() == inner else text[4:].lstrip())
        self.generic_visit(node)

    def visit_Constant(self, node):
        if not self._in_scope() or node.lineno != node.end_lineno:
            return
        v = node.value
        span = self._span(node)
        if isinstance(v, bool):
            self._add("constant", *span, str(not v))
        elif isinstance(v, int) and 0 <= v <= 64 and self._text(*span) == str(v):
            self._add("off_by_one", *span, str(v + 1))
            if v > 0:
                self._add("off_by_one", *span, str(v - 1))

    def visit_Call(self, node):
        if self._in_scope() and len(node.args) >= 2 and not any(isinstance(a, ast.Starred) for a in node.args[:2]):
            a, b = node.args[0], node.args[1]
            sa, sb = self._span(a), self._span(b)
            if sa[0] == sa[2] == sb[0] == sb[2]:
                ta, tb = self._text(*sa), self._text(*sb)
                mid = self.lines[sa[0] - 1][sa[3]:sb[1]]
                if ta != tb and mid.strip() == ",":
                    self._add("swap_args", sa[0], sa[1], sb[2], sb[3], tb + mid + ta)
        self.generic_visit(node)

    def visit_If(self, node):
        # Removing a whole `if` without `else` (a guard, an early return, a special case) is the classic
        # "forgot a branch" bug; multi-statement blocks keep the function syntactically valid.
        if self._in_scope() and not node.orelse and node.end_lineno - node.lineno <= 4:
            l1, l2 = node.lineno, node.end_lineno
            old = "".join(self.lines[l1 - 1:l2])
            if self.lines[l1 - 1].strip().startswith("if ") and old.endswith("\n"):
                # an `if` that is a block's only statement cannot go: find_mutations drops it as a syntax error
                self.out.append(Mutation(self.path, "remove_branch", l1, 0, l2 + 1, 0, old, "",
                                         ".".join(self.scope) or None))
        self.generic_visit(node)


def is_valid(m: Mutation, source: str) -> bool:
    """The mutated module still parses (e.g. removing a block's only statement does not)."""
    try:
        pyast.parse(m.apply(source))
    except (SyntaxError, ValueError):
        return False
    return True


def find_mutations(path: str, source: str, *, validate: bool = True) -> list[Mutation]:
    """Every mutation site of one module (path is relative to the repo root), in source order.

    validate=False skips re-parsing each mutant (costly on big modules); check the ones you use with is_valid."""
    tree = pyast.parse(source)
    f = _Finder(path, source)
    f.visit(tree)
    return [m for m in f.out if m.end_line <= len(f.lines) + 1 and (not validate or is_valid(m, source))]


def sample_mutations(mutations: list[Mutation], seed: int | str) -> list[Mutation]:
    """A deterministic order that alternates bug kinds and spreads over functions (round-robin after a shuffle)."""
    rng = random.Random(str(seed))
    by_kind: dict[str, list[Mutation]] = {}
    for m in sorted(mutations, key=lambda m: m.key):
        by_kind.setdefault(m.kind, []).append(m)
    for lst in by_kind.values():
        rng.shuffle(lst)
    kinds = sorted(by_kind)
    rng.shuffle(kinds)
    order, i = [], 0
    while any(by_kind.values()):
        k = kinds[i % len(kinds)]
        if by_kind[k]:
            order.append(by_kind[k].pop())
        i += 1
    return order
