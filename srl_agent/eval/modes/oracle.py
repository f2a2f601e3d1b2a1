"""`srl eval --mode oracle-files`: the issue plus the full contents of the files the gold patch touches, read from
the task's start state; the model answers in one go with SWE-RL search/replace edits (the paper's "oracle file
edit" setting, as in SWE-RL). The edits become a patch that is graded in a fresh container.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from srl_agent.errors import InputError
from srl_agent.edit_blocks import EditFormatError, apply_edits, parse_edits, unified_patch
from srl_agent.eval.modes.runner import EditResult
from srl_agent.policy.base import Policy
from srl_agent.task import Task

SYSTEM = ("You are an expert software engineer. Reason about the task first, inside <think> ... </think>, as long "
          "as you need; then give only the final answer inside <solution> ... </solution>.")
EDIT_INSTRUCTIONS = """\
Find the cause of the issue in these files and fix it with *SEARCH/REPLACE* edits. Each edit is one fenced block:
the file's path on a line starting with `### `, then `<<<<<<< SEARCH`, the exact lines to find (indentation
included), `=======`, the lines to put in their place, and `>>>>>>> REPLACE`. For example:

```python
### pkg/module.py
<<<<<<< SEARCH
def area(r):
    return 3.14 * r * r
=======
def area(r):
    return math.pi * r * r
>>>>>>> REPLACE
```

The search lines must match the file exactly; use one block per edit and as many blocks as you need."""
_FILE = re.compile(r"--- BEGIN FILE: (.+?) ---\n(.*?)\n--- END FILE: \1 ---", re.S)


@dataclass(frozen=True)
class OracleConfig:
    """`max_prompt_tokens`: a prompt over it (or over the policy's own window) is not generated (context_limit)."""
    max_prompt_tokens: int | None = None


def gold_files(task: Task) -> list[str]:
    """The files the gold patch touches (source paths; created files included), in patch order."""
    from unidiff import PatchSet

    if not task.gold_patch:
        raise InputError(f"task {task.instance_id} has no gold patch: oracle-files shows the files it touches")
    return list(dict.fromkeys(f.path for f in PatchSet(task.gold_patch)))


def read_files(sb, paths: list[str]) -> dict[str, str]:
    """Each file's text in the sandbox's work tree; a path that does not exist there is left out (the model
    sees it as a new file to create)."""
    out = {}
    for p in paths:
        if sb.run(f"test -f {_quote(p)}").exit_code == 0:
            out[p] = sb.read_file(p)
    return out


def _quote(p: str) -> str:
    return "'" + p.replace("'", "'\\''") + "'"


def files_block(files: dict[str, str], paths: list[str]) -> str:
    """The files as the prompt shows them (a path with no content here is marked as not existing yet)."""
    parts = []
    for p in paths:
        body = files.get(p)
        parts.append(f"--- BEGIN FILE: {p} ---\n{body if body is not None else '(this file does not exist yet)'}"
                     f"\n--- END FILE: {p} ---")
    return "\n\n".join(parts)


def files_in_prompt(text: str) -> dict[str, str]:
    """The files an edit prompt shows, back from its text (what a model reads; the scripted gold policy uses it)."""
    return {p: body for p, body in _FILE.findall(text) if body != "(this file does not exist yet)"}


def edit_prompt(task: Task, files: dict[str, str], paths: list[str]) -> list[dict]:
    user = (f"We are fixing this issue in the repository:\n--- BEGIN ISSUE ---\n{task.problem_statement.strip()}\n"
            f"--- END ISSUE ---\n\nThe files that may need changes, in full:\n\n{files_block(files, paths)}\n\n"
            f"{EDIT_INSTRUCTIONS}")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def over_limit(policy: Policy, messages: list[dict], limit: int | None) -> str | None:
    """Why the prompt does not fit (None when it does or the policy cannot count tokens)."""
    count = getattr(policy, "count_tokens", None)
    limits = [x for x in (limit, getattr(policy, "max_prompt_tokens", None)) if x]
    if count is None or not limits:
        return None
    tokens = count(messages)
    return f"prompt of {tokens} tokens > {min(limits)}" if tokens > min(limits) else None


def edit_step(task: Task, policy: Policy, files: dict[str, str], paths: list[str], *, mode: str,
              limit: int | None = None) -> EditResult:
    """Prompt with the files, generate, parse and apply the edits, make the patch (a malformed or non-applying
    answer is a format error with an empty patch)."""
    messages = edit_prompt(task, files, paths)
    result = EditResult(task.instance_id, mode, files=list(paths), prompt=messages)
    too_long = over_limit(policy, messages, limit)
    if too_long:
        result.status, result.error = "context_limit", too_long
        return result
    result.completion = policy.generate(messages)
    try:
        edits = parse_edits(result.completion).edits
        result.patch = unified_patch(files, apply_edits(files, edits))
    except EditFormatError as exc:
        result.status, result.error = "format_error", str(exc)
        return result
    if not result.patch.strip():
        result.status, result.error = "format_error", "the edits change nothing"
    return result


def oracle_step(config: OracleConfig = OracleConfig()):
    """The oracle-files step for evaluate_edits."""
    def step(task: Task, policy: Policy, sb) -> EditResult:
        paths = gold_files(task)
        return edit_step(task, policy, read_files(sb, paths), paths, mode="oracle-files",
                         limit=config.max_prompt_tokens)

    return step
