"""A thread-safe `ast.parse`: CPython 3.11 keeps the AST converter's recursion depth in shared interpreter state, so
two threads parsing at once can fail with "SystemError: AST constructor recursion depth mismatch"."""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    with _LOCK:
        return ast.parse(source, filename)


def literal_eval(source: str):
    with _LOCK:
        return ast.literal_eval(source)
