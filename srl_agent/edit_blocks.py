"""The SWE-RL edit format: `<think>...</think>` then `<solution>...</solution>` holding search/replace blocks.

    <think>
    the reasoning
    </think>
    <solution>
    ```python
    ### path/to/file.py
    <<<<<<< SEARCH
    lines as they are in the file
    =======
    the lines that replace them
    >>>>>>> REPLACE
    ```
    </solution>

The rules are SWE-RL's (facebookresearch/swe-rl, src/swerl/core/reward.py): each of the four tags exactly once, a
non-empty thought, at least one block; a search text must occur in the file at a line start, and every
occurrence is replaced; a block whose search and replace are equal is malformed; a block on a file the prompt
did not show edits an empty file (so an empty search creates it). Anything else is a format error.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from srl_agent.errors import SRLError

THINK, THINK_END, SOLUTION, SOLUTION_END = "<think>", "</think>", "<solution>", "</solution>"
_BLOCK = re.compile(r"```[^\n]*\n### (.*)\n<<<<<<< SEARCH\n([\s\S]*?)\n=======\n([\s\S]*?)\n>>>>>>> REPLACE\n```")


class EditFormatError(SRLError, ValueError):
    """A completion is not well-formed SWE-RL output, or its edits do not apply to the files shown."""


@dataclass(frozen=True)
class Edit:
    path: str
    search: str
    replace: str


@dataclass(frozen=True)
class ParsedEdits:
    think: str
    edits: tuple[Edit, ...]

    @property
    def paths(self) -> list[str]:
        return list(dict.fromkeys(e.path for e in self.edits))


def parse_edits(text: str) -> ParsedEdits:
    """The thought and the search/replace blocks of a completion; EditFormatError says what is wrong."""
    for tag in (THINK, THINK_END, SOLUTION, SOLUTION_END):
        if text.count(tag) != 1:
            raise EditFormatError(f"{tag} must appear exactly once (found {text.count(tag)})")
    think = text.split(THINK, 1)[1].split(THINK_END, 1)[0].strip()
    if not think:
        raise EditFormatError("the <think> block is empty")
    solution = text.split(SOLUTION, 1)[1].split(SOLUTION_END, 1)[0]
    edits = tuple(Edit(p, s, r) for p, s, r in _BLOCK.findall(solution))
    if not edits:
        raise EditFormatError("no search/replace block in <solution> (```lang, ### path, <<<<<<< SEARCH, "
                              "=======, >>>>>>> REPLACE, ```)")
    return ParsedEdits(think, edits)


def apply_edits(files: dict[str, str], edits: tuple[Edit, ...] | list[Edit]) -> dict[str, str]:
    """New contents of every file the edits touch (files absent from `files` start empty)."""
    out: dict[str, str] = {}
    for e in edits:
        if e.search == e.replace:
            raise EditFormatError(f"{e.path}: a block's search and replace are the same")
        # a leading newline on both sides anchors the search at a line start, as SWE-RL does
        content = "\n" + out.get(e.path, files.get(e.path, ""))
        search, replace = "\n" + e.search, "\n" + e.replace
        if search not in content:
            raise EditFormatError(f"{e.path}: search text not found: {e.search[:120]!r}")
        out[e.path] = content.replace(search, replace)[1:]
    return out


def normalized_change(old: str, new: str) -> str:
    """A file's change as SWE-RL compares it: the unified diff (3 lines of context) without its two headers."""
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), "old", "new", lineterm="", n=3))
    return "\n".join(lines[2:])


def unified_patch(old: dict[str, str], new: dict[str, str]) -> str:
    """A `git apply`-able patch from old to new contents (a path missing from `old`, or empty there and
    non-empty in `new` when old had no such file, is created)."""
    parts = []
    for path in sorted(new):
        before, after = old.get(path), new[path]
        if before == after:
            continue
        a = (before or "").splitlines(keepends=True)
        b = after.splitlines(keepends=True)
        src = "/dev/null" if before is None else f"a/{path}"
        head = [f"diff --git a/{path} b/{path}\n"] + (["new file mode 100644\n"] if before is None else [])
        body = list(difflib.unified_diff(a, b, src, f"b/{path}", n=3))
        parts.append("".join(head + [_eol(line) for line in body]))
    return "".join(parts)


def _eol(line: str) -> str:
    return line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"


def render_edits(old: dict[str, str], new: dict[str, str], think: str = "The fix.") -> str:
    """The change from `old` to `new` written as a SWE-RL completion whose blocks apply back to exactly `new`:
    one block per changed region, each search widened until it occurs once (every occurrence is replaced), or,
    when regions interfere, one block per file spanning all of them."""
    for whole in (False, True):
        blocks = []
        for path in sorted(new):
            if old.get(path, "") != new[path]:
                blocks += [_block(path, s, r) for s, r in _file_blocks(old.get(path, ""), new[path], whole)]
        completion = f"{THINK}\n{think}\n{THINK_END}\n{SOLUTION}\n" + "\n".join(blocks) + f"\n{SOLUTION_END}\n"
        try:
            got = apply_edits(old, parse_edits(completion).edits)
        except EditFormatError:
            continue
        if all(got.get(p, old.get(p, "")) == new[p] for p in new):
            return completion
    raise EditFormatError("the change cannot be written as search/replace blocks that apply back exactly")


def _block(path: str, search: str, replace: str) -> str:
    return f"```python\n### {path}\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n```"


def _file_blocks(old: str, new: str, whole: bool) -> list[tuple[str, str]]:
    """(search, replace) pairs for one file: its changed line regions (or their one span), widened to be unique."""
    if not old:
        return [("", new)]
    a, b = old.split("\n"), new.split("\n")
    groups = list(difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(1))
    spans = [(g[0][1], g[-1][2], g[0][3], g[-1][4]) for g in groups]
    if whole:
        spans = [(spans[0][0], spans[-1][1], spans[0][2], spans[-1][3])]
    pairs: list[tuple[str, str]] = []
    for i1, i2, j1, j2 in spans:
        lo, hi = i1, i2
        for ctx in range(len(a) + 1):
            lo, hi = max(0, i1 - ctx), min(len(a), i2 + ctx)
            search = "\n".join(a[lo:hi])
            if search and ("\n" + old).count("\n" + search) == 1:
                break
        pairs.append(("\n".join(a[lo:hi]), "\n".join(a[lo:i1] + b[j1:j2] + a[i2:hi])))
    return pairs


def patched_contents(files: dict[str, str], patch: str) -> dict[str, str]:
    """New contents of the files a unified diff changes, applied to `files` in Python with exact context
    matching (a pure text operation; the patch's hunks must match the given contents line for line)."""
    from unidiff import PatchSet

    out: dict[str, str] = {}
    for pf in PatchSet(patch):
        path = pf.path
        lines = [] if pf.is_added_file else files[path].splitlines(keepends=True)
        result, pos = [], 0
        for h in pf:
            start = max(h.source_start - 1, 0) if h.source_length else h.source_start
            result += lines[pos:start]
            pos = start
            last = None
            for ln in h:
                text = ln.value
                if ln.line_type == "\\":  # "\ No newline at end of file" ends the line before it
                    if last in ("context", "added") and result:
                        result[-1] = result[-1].rstrip("\n")
                    continue
                last = "context" if ln.is_context else "added" if ln.is_added else "removed"
                if ln.is_context or ln.is_removed:
                    if pos >= len(lines) or lines[pos].rstrip("\n") != text.rstrip("\n"):
                        raise EditFormatError(f"{path}: the patch does not match the file at line {pos + 1}")
                    if ln.is_context:
                        result.append(lines[pos])
                    pos += 1
                elif ln.is_added:
                    result.append(text)
        result += lines[pos:]
        out[path] = "" if pf.is_removed_file else "".join(result)
    return out
