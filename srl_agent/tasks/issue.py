"""Issue texts written like a user's bug report, from what running the failing test actually printed."""

from __future__ import annotations

import ast
import random
import re
import textwrap
from dataclasses import dataclass, field

from srl_agent import pyast

_HEADER = re.compile(r"^_{3,} (.+?) _{3,}$")
_VAR = re.compile(r"^([A-Za-z_]\w*) = (.+)$")
_FILE_LINE = re.compile(r"[\w./-]+\.py:\d+")
_CALL = re.compile(r"([A-Za-z_][\w.]*)\s*\(")


@dataclass
class Symptom:
    """What a user saw: the code they ran, the statement that failed, the values involved and the error."""
    statement: str = ""
    values: list[str] = field(default_factory=list)
    error: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)


MAX_CODE_LINES = 20


def test_body(source: str, test_id: str, statement: str = "") -> list[str]:
    """The body of the test `path::[Class::]name[param]` in `source`, dedented, without its docstring and
    without the `def` line (which carries the test's name). A long body is cut to the lines leading up to the
    failing `statement`; [] when that cannot be done."""
    names = [re.sub(r"\[.*$", "", p) for p in test_id.split("::")[1:]]
    node: ast.AST = pyast.parse(source)
    for name in names:
        node = next((n for n in getattr(node, "body", []) if isinstance(n, (ast.FunctionDef, ast.ClassDef,
                     ast.AsyncFunctionDef)) and n.name == name), None)
        if node is None:
            return []
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]
    if not body:
        return []
    lines = source.splitlines()[body[0].lineno - 1: body[-1].end_lineno]
    lines = textwrap.dedent("\n".join(lines)).splitlines()
    if len(lines) <= MAX_CODE_LINES:
        return lines
    hits = [i for i, line in enumerate(lines) if statement and line.strip() == statement.strip()]
    if not hits:
        return []
    window = lines[max(0, hits[0] - MAX_CODE_LINES // 2 + 1): hits[0] + 1]
    while window and not window[0].strip():
        window = window[1:]
    return textwrap.dedent("\n".join(window)).splitlines()


def failure_section(log: str, test_id: str) -> str:
    """The block pytest printed under FAILURES for one test (`path::Class::name[param]`), or ''."""
    parts = test_id.split("::")
    wanted = {".".join(parts[1:]), parts[-1]}
    lines, out, on = log.splitlines(), [], False
    for line in lines:
        m = _HEADER.match(line)
        if m or line.startswith("=" * 5):
            if on:
                break
            on = bool(m) and m.group(1) in wanted
            continue
        if on:
            out.append(line)
    return "\n".join(out)


def parse_symptom(section: str) -> Symptom:
    """First frame's failing statement (`>` line), the test's local values and the final `E` lines."""
    s = Symptom()
    lines = section.splitlines()
    for line in lines:
        if line.startswith("    ") or line.startswith(">"):
            break
        m = _VAR.match(line.strip())
        if m and len(line) < 200:
            s.values.append(line.strip())
    for line in lines:
        if line.startswith(">"):
            s.statement = line[1:].strip()
            break
    # The last run of E lines is the exception as it surfaced (deeper frames may hold library code).
    block: list[str] = []
    for line in lines:
        if line.startswith("E "):
            block.append(line[1:].rstrip())
        elif block and not line.startswith("E"):
            last, block = block, []
            s.error = last
    if block:
        s.error = block
    s.error = textwrap.dedent("\n".join(s.error)).splitlines()[:14]
    return s


def called_names(statement: str) -> list[str]:
    return [m.group(1) for m in _CALL.finditer(statement)]


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _scrub(lines: list[str], forbidden: list[str]) -> list[str]:
    out = []
    for line in lines:
        line = _ADDRESS.sub(" at 0x...", line)  # memory addresses change from run to run
        if _FILE_LINE.search(line) or any(f and f in line for f in forbidden):
            continue
        out.append(line)
    return out


def write_issue(*, package: str, version: str, function: str, symptom: Symptom, forbidden: list[str],
                seed: int | str) -> str:
    """The problem statement: the public function, the input, what was expected, what happened.

    `forbidden` are strings that must not appear (test names, the fixed file's path and name); lines that
    contain one are dropped, so the text shows the symptom without pointing at the fix.
    """
    rng = random.Random(str(seed))
    statement = "" if any(f and f in symptom.statement for f in forbidden) else symptom.statement
    values = _scrub(symptom.values, forbidden)
    error = _scrub(symptom.error, forbidden)
    # the example is shown whole or not at all: dropping lines would make code that does not run
    code = symptom.code if len(_scrub(symptom.code, forbidden)) == len(symptom.code) else []
    title = rng.choice([f"`{function}` gives a wrong result", f"Unexpected behaviour of `{function}`",
                        f"`{function}` is broken in {package} {version}", f"Bug in `{function}`"])
    opening = rng.choice([
        f"I'm using {package} {version} and `{function}` does not do what the documentation says.",
        f"After installing {package} {version}, `{function}` stopped behaving as expected.",
        f"`{function}` in {package} {version} returns something I did not expect.",
    ])
    parts = [title, "", opening, ""]
    if values:
        parts += ["With these inputs:", "", *("    " + v for v in values), ""]
    if code:
        parts += [rng.choice(["Here is what I run:", "Minimal example:", "To reproduce:"]), "",
                  *("    " + c if c.strip() else "" for c in code), ""]
        if statement and len(code) > 1:
            parts += ["It fails at:", "", "    " + statement, ""]
    elif statement:
        parts += [rng.choice(["This check fails:", "Running this:", "Minimal example:"]), "", "    " + statement, ""]
    if error:
        kind = error[0].split(":", 1)[0]
        if kind == "AssertionError" or error[0].startswith("assert"):
            parts += ["The values differ from what I expected:", ""]
        else:
            parts += [f"Instead it raises `{kind}`:" if re.fullmatch(r"[\w.]+", kind) else "Instead I get:", ""]
        parts += ["    " + e for e in error]
        parts.append("")
    parts.append(rng.choice(["Expected the call to give the documented result.",
                             "I would expect this to work as documented.",
                             "This used to work; it looks like a regression."]))
    return "\n".join(parts).strip() + "\n"


def leaks(text: str, test_ids: list[str], fix_paths: list[str]) -> list[str]:
    """The test names and fix paths that appear in an issue text (empty when it leaks nothing)."""
    found = []
    for tid in test_ids:
        parts = tid.split("::")
        names = [parts[0]] + [re.sub(r"\[.*$", "", p) for p in parts[1:]]
        found += [n for n in names if n and n in text]
    for p in fix_paths:
        found += [x for x in (p, p.rsplit("/", 1)[-1]) if x in text]
    return sorted(set(found))
