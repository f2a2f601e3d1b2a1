"""What of a patch the grader keeps: changes to the tests that grade it, and to whatever configures pytest or
runs at Python start-up, are dropped before the tests run (and named in the grade report).

SWE-bench restores the task's test files after applying a prediction; this goes further: `conftest.py`
anywhere, pytest/tox/setup.cfg/pyproject configuration, `sitecustomize.py` / `usercustomize.py` / `*.pth`, the
repository's `.git`, and changes to existing files in the task's test directories are dropped too. New files
in test directories are kept (a fix that also adds a test still grades), except an `__init__.py`, which would
change how pytest imports the tests. Pure functions: no Docker.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from srl_agent.task import Task

TEST_CONFIG = frozenset({"pytest.ini", ".pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml"})
STARTUP = frozenset({"sitecustomize.py", "usercustomize.py"})
_GIT_HEADER = re.compile(r"^diff --git ")
_ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", '"': '"', "\\": "\\"}


@dataclass(frozen=True)
class FilePatch:
    """One file's part of a patch: its old and new paths (None for /dev/null) and its text."""

    old: str | None
    new: str | None
    text: str

    @property
    def paths(self) -> list[str]:
        return [p for p in dict.fromkeys((self.old, self.new)) if p]

    @property
    def new_file(self) -> bool:
        return self.old is None and self.new is not None


@dataclass(frozen=True)
class Dropped:
    path: str
    reason: str

    def to_dict(self) -> dict:
        return {"path": self.path, "reason": self.reason}


def _unquote(s: str) -> str:
    """git's C-style quoted path ("a/sp\\303\\251cial") to text."""
    if not (len(s) >= 2 and s[0] == '"' and s[-1] == '"'):
        return s
    out, raw, i, body = [], bytearray(), 0, s[1:-1]
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n in "01234567" and i + 3 < len(body) + 1:
                raw.append(int(body[i + 1:i + 4], 8))
                i += 4
                continue
            raw += _ESC.get(n, n).encode()
            i += 2
            continue
        raw += c.encode()
        i += 1
    out.append(raw.decode("utf-8", "surrogateescape"))
    return "".join(out)


def _strip(path: str | None, prefix: str) -> str | None:
    if path is None:
        return None
    path = _unquote(path.split("\t", 1)[0].strip() if not path.startswith('"') else path.strip())
    if path == "/dev/null":
        return None
    if path.startswith(prefix):
        path = path[len(prefix):]
    return posixpath.normpath(path) if path else None


def _header_paths(line: str) -> tuple[str | None, str | None]:
    rest = line[len("diff --git "):].rstrip("\n")
    if rest.startswith('"'):
        end = rest.find('" ', 1)
        return _strip(rest[:end + 1], "a/"), _strip(rest[end + 2:], "b/")
    if '"' in rest:  # only the new path is quoted
        cut = rest.index(' "')
        return _strip(rest[:cut], "a/"), _strip(rest[cut + 1:], "b/")
    half = (len(rest) - 1) // 2  # "a/P b/P" for the same P: the only split that always works with spaces
    if rest[half] == " " and rest[:half][2:] == rest[half + 1:][2:]:
        return _strip(rest[:half], "a/"), _strip(rest[half + 1:], "b/")
    a, _, b = rest.partition(" b/")
    return _strip(a, "a/"), _strip("b/" + b, "b/")


def _section(lines: list[str]) -> FilePatch:
    old = new = None
    git = bool(lines) and _GIT_HEADER.match(lines[0])
    if git:
        old, new = _header_paths(lines[0])
    created = deleted = False
    for line in lines[1:] if git else lines:
        if line.startswith("new file mode"):
            created = True
        elif line.startswith("deleted file mode"):
            deleted = True
        elif line.startswith(("rename from ", "copy from ")):
            old = _strip(line.split(" ", 2)[2].rstrip("\n"), "")
        elif line.startswith(("rename to ", "copy to ")):
            new = _strip(line.split(" ", 2)[2].rstrip("\n"), "")
        elif line.startswith("--- "):
            old = _strip(line[4:].rstrip("\n"), "a/") if line[4:].strip() != "/dev/null" else None
            created = created or old is None
        elif line.startswith("+++ "):
            new = _strip(line[4:].rstrip("\n"), "b/") if line[4:].strip() != "/dev/null" else None
            deleted = deleted or new is None
        elif line.startswith("@@"):
            break
    return FilePatch(None if created else old, None if deleted else new, "".join(lines))


def split_patch(patch: str) -> list[FilePatch]:
    """A patch's file sections (git-style `diff --git` sections, or plain `---`/`+++` unified diffs)."""
    lines = patch.splitlines(keepends=True)
    git_style = any(_GIT_HEADER.match(line) for line in lines)
    starts = []
    for i, line in enumerate(lines):
        if git_style and _GIT_HEADER.match(line):
            starts.append(i)
        elif not git_style and line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            starts.append(i)
    if not starts:
        return [FilePatch(None, None, patch)] if patch.strip() else []
    sections = [lines[a:b] for a, b in zip(starts, starts[1:] + [len(lines)])]
    head = "".join(lines[:starts[0]])
    out = [_section(s) for s in sections]
    if head.strip():  # a preamble (commit message): kept with the first section
        out[0] = FilePatch(out[0].old, out[0].new, head + out[0].text)
    return out


def test_files(task: Task) -> set[str]:
    """The files the task's tests live in (FAIL_TO_PASS / PASS_TO_PASS ids, and the test patch's files)."""
    files = {posixpath.normpath(t.split("::")[0]) for t in task.fail_to_pass + task.pass_to_pass if "::" in t}
    if task.test_patch:
        for fp in split_patch(task.test_patch):
            files.update(fp.paths)
    return files


def test_dirs(files: set[str]) -> set[str]:
    """Directories holding the task's tests (not the repository root: sources live there too)."""
    return {d for d in (posixpath.dirname(f) for f in files) if d not in ("", ".")}


def protected_reason(path: str, *, new_file: bool, files: set[str], dirs: set[str]) -> str | None:
    """Why a change to `path` must not reach the test run, or None when it may."""
    path = posixpath.normpath(path)
    parts = path.split("/")
    base = parts[-1]
    if ".git" in parts:
        return "the repository's .git"
    if base == "conftest.py":
        return "conftest.py (pytest plugin)"
    if base in TEST_CONFIG:
        return "test configuration"
    if base in STARTUP or base.endswith(".pth"):
        return "Python start-up hook"
    if path in files:
        return "a test file of the task"
    in_test_dir = any(path.startswith(d + "/") for d in dirs)
    if in_test_dir and not new_file:
        return "an existing file in the task's test directories"
    if in_test_dir and base == "__init__.py":
        return "a new package marker in the task's test directories"
    if ".." in parts or path.startswith("/"):
        return "a path outside the repository"
    return None


def filter_patch(patch: str, task: Task) -> tuple[str, list[Dropped]]:
    """(the patch without its protected sections, what was dropped and why)."""
    files = test_files(task)
    dirs = test_dirs(files)
    kept, dropped = [], []
    for fp in split_patch(patch or ""):
        reasons = [(p, protected_reason(p, new_file=fp.new_file, files=files, dirs=dirs)) for p in fp.paths]
        hits = [Dropped(p, r) for p, r in reasons if r]
        if hits:
            dropped += hits
        else:
            kept.append(fp.text)
    text = "".join(kept)
    return (text if not text or text.endswith("\n") else text + "\n"), dropped
