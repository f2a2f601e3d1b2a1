"""What the scripted expert knows before it acts: the gold patch as str_replace edits, the issue's symbol and
example, a reproduction script, and the natural-language thoughts it writes (pure functions, no Docker)."""

from __future__ import annotations

import ast
import random
import re
import sys
import textwrap
from dataclasses import dataclass, field

from srl_agent import pyast
from srl_agent.errors import SRLError

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_DEF = re.compile(r"^\s*(?:async\s+)?(def|class)\s+([A-Za-z_]\w*)")
_BACKTICK = re.compile(r"`([A-Za-z_][\w.]*)`")
_STATEMENT_HEADERS = ("It fails at:", "This check fails:", "Running this:")
_CODE_HEADERS = ("Here is what I run:", "Minimal example:", "To reproduce:")
_VALUE_SPLIT = re.compile(r", (?=[A-Za-z_]\w* = )")


class ExpertScriptError(SRLError, ValueError):
    """The gold patch or the issue cannot be turned into the expert's steps (the task is reported, not written)."""


@dataclass
class Hunk:
    """One hunk of a unified diff: the file, where it starts in the old file, and its (tag, text) lines."""

    path: str
    old_start: int
    lines: list[tuple[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> list[int]:
        return [i for i, (tag, _) in enumerate(self.lines) if tag in "+-"]

    @property
    def first_changed_line(self) -> int:
        """Line number (1-based, old file) of the first removed line, or of the line the addition follows."""
        first = self.changed[0]
        return self.old_start + sum(1 for tag, _ in self.lines[:first] if tag in " -")

    @property
    def old_span(self) -> int:
        return sum(1 for tag, _ in self.lines if tag in " -")


def parse_patch(patch: str) -> list[Hunk]:
    """The hunks of a git-style unified diff (file creations / deletions are not expected in gold patches)."""
    hunks: list[Hunk] = []
    path = None
    cur: Hunk | None = None
    for line in patch.splitlines():
        if line.startswith("diff --git "):
            cur, path = None, None
        elif line.startswith("+++ "):
            target = line[4:].strip()
            path = None if target == "/dev/null" else re.sub(r"^b/", "", target)
        elif line.startswith("--- "):
            continue
        elif line.startswith("@@"):
            m = _HUNK.match(line)
            if not m or path is None:
                raise ExpertScriptError(f"cannot read hunk header {line!r}")
            cur = Hunk(path, int(m.group(1)))
            hunks.append(cur)
        elif cur is not None and line[:1] in (" ", "+", "-"):
            cur.lines.append((line[0], line[1:]))
        elif cur is not None and line == "":
            cur.lines.append((" ", ""))  # some tools strip the lone space of an empty context line
    if not hunks:
        raise ExpertScriptError("the gold patch has no hunks")
    return hunks


def hunk_edit(text: str, hunk: Hunk, context: int = 0) -> tuple[str, str]:
    """(old_str, new_str) for one hunk: the changed lines plus the least context (from `context` up) that
    makes old_str occur exactly once in `text`."""
    changed = hunk.changed
    if not changed:
        raise ExpertScriptError(f"hunk in {hunk.path} changes nothing")
    i, j = changed[0], changed[-1]
    pure_add = all(hunk.lines[k][0] != "-" for k in range(i, j + 1))
    n = len(hunk.lines)
    for c in range(context, n + 1):
        lo, hi = max(0, i - c), min(n, j + 1 + c)
        if pure_add and c == 0:  # an insertion needs an anchor line
            lo, hi = (i - 1, hi) if i > 0 else (lo, hi + 1)
        block = hunk.lines[lo:hi]
        old = "\n".join(t for tag, t in block if tag in " -")
        new = "\n".join(t for tag, t in block if tag in " +")
        if old.strip() and text.count(old) == 1:
            return old, new
        if lo == 0 and hi == n:
            break
    raise ExpertScriptError(f"no unique old_str for the hunk at {hunk.path}:{hunk.old_start}")


def edits_for_file(text: str, hunks: list[Hunk], gold_text: str, context: int = 0) -> list[tuple[str, str]]:
    """Sequential str_replace edits that turn `text` into `gold_text` (checked), one per hunk."""
    for ctx in dict.fromkeys((context, 0, 3)):
        edits, cur = [], text
        try:
            for h in hunks:
                old, new = hunk_edit(cur, h, ctx)
                edits.append((old, new))
                cur = cur.replace(old, new, 1)
        except ExpertScriptError:
            continue
        if cur == gold_text:
            return edits
    raise ExpertScriptError(f"the str_replace edits for {hunks[0].path} do not reproduce the gold file")


def enclosing_symbol(text: str, line: int) -> str | None:
    """The innermost def/class whose body holds `line` (1-based): walking up, the first def header indented
    less than every non-blank line between it and `line`."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return None
    target = lines[line - 1]
    cur = len(target) - len(target.lstrip()) if target.strip() else 10 ** 6
    for k in range(line - 2, -1, -1):
        if not lines[k].strip():
            continue
        d = len(lines[k]) - len(lines[k].lstrip())
        if d < cur:
            m = _DEF.match(lines[k])
            if m:
                return m.group(2)
            cur = d
    return None


@dataclass
class IssueExample:
    """What the issue text shows: the symbol it names, the inputs, the failing statement and the error."""

    symbol: str
    qualified: str
    title: str
    values: list[str]
    statement: str
    error: list[str]
    code: list[str] = field(default_factory=list)

    @property
    def example(self) -> str:
        """The runnable part of the example: the code block when there is one, else the failing statement."""
        return "\n".join(self.code) if self.code else self.statement

    @property
    def error_kind(self) -> str:
        head = self.error[0].strip() if self.error else ""
        kind = head.split(":", 1)[0]
        if head.startswith("assert") or kind == "AssertionError":
            return "AssertionError"
        return kind if re.fullmatch(r"[\w.]+", kind or "-") else "a failure"


def _blocks(text: str) -> dict[str, list[str]]:
    """Each header line of the issue (a line ending with ':') and the indented block that follows it (blank
    lines inside the block kept)."""
    out: dict[str, list[str]] = {}
    lines = text.splitlines()
    for k, line in enumerate(lines):
        if line and not line.startswith(" ") and line.rstrip().endswith(":"):
            block: list[str] = []
            for nxt in lines[k + 1:]:
                if nxt.startswith("    "):
                    block.append(nxt[4:])
                elif nxt.strip():
                    break
                elif block:
                    block.append("")
            while block and not block[-1].strip():
                block.pop()
            out[line.strip()] = block
    return out


def parse_issue(problem_statement: str, package: str = "") -> IssueExample:
    """The symbol, inputs, example code, failing statement and error that the issue text shows."""
    title = problem_statement.strip().splitlines()[0] if problem_statement.strip() else ""
    m = _BACKTICK.search(problem_statement)
    qualified = m.group(1) if m else package
    blocks = _blocks(problem_statement)
    code = next((blocks[h] for h in _CODE_HEADERS if blocks.get(h)), [])
    statement = next((" ".join(blocks[h]) for h in _STATEMENT_HEADERS if blocks.get(h)), "")
    if not statement and len(code) == 1:  # a one-line example is the failing statement itself
        statement, code = code[0], []
    error = next((b for h, b in blocks.items() if h.startswith(("The values differ", "Instead"))), [])
    return IssueExample(symbol=qualified.split(".")[-1], qualified=qualified, title=title,
                        values=blocks.get("With these inputs:", []), statement=statement, error=error, code=code)


def _parses(code: str) -> bool:
    try:
        pyast.parse(code)
    except SyntaxError:
        return False
    return True


def value_assignments(values: list[str]) -> list[str]:
    """pytest's `a = 1, b = 'x'` parameter lines as one assignment per line (dropped when they do not parse)."""
    out = []
    for line in values:
        parts = _VALUE_SPLIT.split(line.strip())
        if all(_parses(p) for p in parts):
            out.extend(parts)
        else:
            return []
    return out


def module_imports(test_source: str, packages: tuple[str, ...]) -> list[str]:
    """The test module's top-level imports of the package itself and of the standard library."""
    try:
        tree = pyast.parse(test_source)
    except SyntaxError:
        return []
    stdlib = set(getattr(sys, "stdlib_module_names", ()))
    out = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module.split(".")[0]]
        else:
            continue
        if all(n in packages or n in stdlib for n in names) and "__future__" not in names:
            seg = ast.get_source_segment(test_source, node)
            if seg:
                out.append(seg)
    return out


def used_imports(imports: list[str], used: set[str]) -> list[str]:
    """The import statements that bind a name the script uses."""
    out = []
    for imp in imports:
        node = pyast.parse(imp).body[0]
        bound = {(a.asname or a.name).split(".")[0] for a in node.names}
        if "*" in bound or bound & used:
            out.append(imp)
    return out


def example_script(issue: IssueExample, imports: list[str], rng: random.Random) -> str | None:
    """A reproduction script built from the issue's own example, or None when the example is not runnable code."""
    code = issue.example
    if not code or not _parses(code) or code.rstrip().endswith(":"):
        return None
    doc = rng.choice([f'"""Reproduce: {issue.title.strip("`")}."""',
                      f"# Reproduction of the reported problem with `{issue.symbol}`.",
                      f'"""Minimal reproduction for the `{issue.symbol}` report."""'])
    used = _names([pyast.parse(code)])
    uses_self = "self" in used
    lines = [doc, *used_imports(imports, used), *(["import unittest"] if uses_self else []), ""]
    lines += value_assignments(issue.values)
    lines += ["self = unittest.TestCase()"] if uses_self else []
    lines.append(code)
    lines.append(rng.choice(['print("OK: behaves as documented")', 'print("no error, looks fixed")',
                             f'print("{issue.symbol}: OK")']))
    return "\n".join(lines) + "\n"


def pytest_script(test_ids: list[str], symbol: str, rng: random.Random) -> str:
    """Fallback reproduction: run the scenario from the test suite that exercises the symbol."""
    ids = ", ".join(repr(t) for t in test_ids[:3])
    doc = rng.choice([f'"""Reproduce the `{symbol}` problem with the scenario the test suite already has."""',
                      f"# The issue's snippet needs test fixtures, so drive the `{symbol}` scenario through pytest."])
    return f"{doc}\nimport sys\n\nimport pytest\n\nsys.exit(pytest.main([\"-q\", \"-p\", \"no:cacheprovider\", {ids}]))\n"


def _names(nodes) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


def _find_test(tree: ast.Module, test_id: str):
    parts = [re.sub(r"\[.*$", "", p) for p in test_id.split("::")[1:]]
    scope, cls = tree.body, None
    for part in parts[:-1]:
        cls = next((n for n in scope if isinstance(n, ast.ClassDef) and n.name == part), None)
        if cls is None:
            return None, None
        scope = cls.body
    fn = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == parts[-1]), None)
    return fn, cls


def test_body_script(test_source: str, test_id: str, issue: IssueExample, packages: tuple[str, ...],
                     sibling_modules: set[str], test_dir: str, rng: random.Random) -> str | None:
    """A reproduction script built from the issue's example and the setup it needs: the lines of the failing
    scenario up to the statement the issue shows, the module-level definitions they use, and the inputs."""
    try:
        tree = pyast.parse(test_source)
    except SyntaxError:
        return None
    fn, cls = _find_test(tree, test_id)
    if fn is None or not issue.example:
        return None
    assigned = {a.split(" = ", 1)[0] for a in value_assignments(issue.values)}
    params = [a.arg for a in fn.args.args if a.arg != "self"]
    if any(p not in assigned for p in params[: len(params) - len(fn.args.defaults)]):
        return None  # a pytest fixture we cannot build outside pytest
    body = [n for n in fn.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    first = (issue.statement or issue.code[-1]).strip().split("(")[0]
    hits = [k for k, n in enumerate(body) if first and first in (ast.get_source_segment(test_source, n) or "")]
    if not hits:
        return None
    body = body[: hits[-1] + 1]  # up to the statement the issue shows (its last occurrence, to be sure it runs)
    defs: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("test"):
            defs[node.name] = node
        elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            for t in node.targets:
                defs[t.id] = node
    need, todo = set(), _names(body)
    while todo:
        name = todo.pop()
        if name in defs and name not in need:
            need.add(name)
            todo |= _names([defs[name]])
    chosen = [n for n in tree.body if any(defs.get(k) is n for k in need)]
    allowed = tuple(packages) + ("pytest", "unittest") + tuple(sibling_modules)
    imports = used_imports(module_imports(test_source, allowed), _names(body) | _names(chosen))
    head = [rng.choice([f'"""Reproduce the `{issue.symbol}` problem from the report, with the setup it needs."""',
                        f"# Reproduction for `{issue.symbol}`: the example from the issue plus the data it uses."])]
    if any(m in " ".join(imports) for m in sibling_modules):
        head += ["import sys", f"sys.path.insert(0, {test_dir!r})  # the tests' helper module"]
    head += imports + (["import unittest"] if cls is not None and "import unittest" not in imports else [])
    setup = [ast.get_source_segment(test_source, n) for n in chosen]
    run = value_assignments(issue.values) + (["self = unittest.TestCase()"] if cls is not None else [])
    run += [textwrap.dedent(_segment_with_indent(test_source, n)) for n in body]
    run.append(rng.choice(['print("OK: behaves as documented")', f'print("{issue.symbol}: OK")']))
    lines = [("\n\n\n" if setup else "\n").join(["\n".join(head), *setup]), "", *run]
    script = "\n".join(lines) + "\n"
    return script if _parses(script) else None


def _segment_with_indent(source: str, node: ast.stmt) -> str:
    lines = source.splitlines()[node.lineno - 1: node.end_lineno]
    return "\n".join(lines)
