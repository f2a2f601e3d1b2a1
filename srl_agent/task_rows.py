"""Published dataset rows as tasks: SWE-bench (5.x instances and the classic schema), SWE-Gym and SWE-smith.

Each dataset's own conventions, in one place:
- SWE-bench 5.x instances carry `image`, `eval_script`, `log_parser` and `eval_type`; they are kept as given. The
  classic schema (12 columns) carries none of them: the image is SWE-bench's published name for the instance
  (swebench's own `expected_image`: `swebench/sweb.eval.x86_64.<id, "__" as "_1776_", lower-case>:latest`).
- SWE-Gym rows have the classic schema; their images are `xingyaoww/sweb.eval.x86_64.<id, "__" as "_s_">:latest`
  (the naming of SWE-Gym's OpenHands fork, evaluation/swe_bench/run_infer.py).
- SWE-smith rows name their image in `image_name`, and their `patch` is the bug: the fix is its reverse and the
  start state is the image with the bug applied (SWE-smith's harness applies a gold "prediction" with --reverse).
  An image_name without a registry namespace is also looked for under `jyangballin/` with "__" as "_1776_", the
  name SWE-smith publishes images under.
A row without an eval script gets a test command derived from its test ids (pytest node ids only) and says so;
ids that are not pytest node ids (Django's, SymPy's) get none, and grading such a task stops with a message.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Iterable

from srl_agent.errors import InputError

DATASETS = ("swe-bench", "swe-gym", "swe-smith")
SWEGYM_NAMESPACE = "xingyaoww"
SWESMITH_NAMESPACE = "jyangballin"
# The images of SWE-bench, SWE-Gym and SWE-smith keep the repository's environment in conda env `testbed`.
CONDA = "source /opt/miniconda3/bin/activate && conda activate testbed"
DERIVED_PYTEST = "pytest --no-header -rA --tb=no -p no:cacheprovider"
_NODE_ID = re.compile(r"^[\w./-]+\.py::")
_ENV_LINE = re.compile(r"^(source |conda activate |export |cd |\. )")


def swebench_image(instance_id: str) -> str:
    """SWE-bench's published image for an instance (swebench's own naming function)."""
    from swebench.task.checks import expected_image

    return expected_image(instance_id)


def swegym_image(instance_id: str) -> str:
    return f"{SWEGYM_NAMESPACE}/sweb.eval.x86_64.{instance_id.replace('__', '_s_')}:latest".lower()


def swesmith_published(image_name: str) -> str | None:
    """Docker Hub's name of a SWE-smith image given without a namespace (None when it has one)."""
    if "/" in image_name:
        return None
    return f"{SWESMITH_NAMESPACE}/{image_name.replace('__', '_1776_')}"


def detect_dataset(row: dict) -> str:
    """swe-smith when the row names a SWE-smith image or repository mirror, else swe-bench (SWE-Gym rows look
    exactly like SWE-bench's classic ones: pass dataset="swe-gym" for them)."""
    name = str(row.get("image_name") or "")
    if "swesmith" in name or str(row.get("repo") or "").startswith("swesmith/"):
        return "swe-smith"
    return "swe-bench"


def reverse_patch(patch: str) -> str:
    """The reverse of a unified git diff (what `git apply -R` applies): old and new sides swapped everywhere."""
    out: list[str] = []
    lines = patch.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            out += ["--- " + _flip_side(lines[i + 1][4:], "b/", "a/"), "+++ " + _flip_side(line[4:], "a/", "b/")]
            i += 2
            continue
        out.append(_reverse_line(line))
        i += 1
    return "".join(out)


def _flip_side(path: str, old: str, new: str) -> str:
    return new + path[len(old):] if path.startswith(old) else path


def _reverse_line(line: str) -> str:
    if line.startswith("@@"):
        m = re.match(r"@@ -(\S+) \+(\S+) @@(.*)", line, re.S)
        return f"@@ -{m[2]} +{m[1]} @@{m[3]}" if m else line
    if line.startswith("diff --git "):
        m = re.match(r"diff --git a/(\S+) b/(\S+)(\s*)$", line, re.S)
        return f"diff --git a/{m[2]} b/{m[1]}{m[3]}" if m else line
    if line.startswith("index "):
        m = re.match(r"index (\w+)\.\.(\w+)(.*)", line, re.S)
        return f"index {m[2]}..{m[1]}{m[3]}" if m else line
    for a, b in (("new file mode", "deleted file mode"), ("deleted file mode", "new file mode"),
                 ("rename from ", "rename to "), ("rename to ", "rename from "),
                 ("old mode ", "new mode "), ("new mode ", "old mode ")):
        if line.startswith(a):
            return b + line[len(a):]
    if line.startswith("+"):
        return "-" + line[1:]
    if line.startswith("-"):
        return "+" + line[1:]
    return line


def node_id_files(tests: Iterable[str]) -> list[str]:
    """The files of pytest node ids, in first-seen order."""
    seen: dict[str, None] = {}
    for t in tests:
        if _NODE_ID.match(t):
            seen.setdefault(t.split("::", 1)[0], None)
    return list(seen)


def derived_test_command(f2p: list[str], p2p: list[str], *, conda: bool = True) -> str:
    """pytest on the test files of the task's node ids ("" when the ids are not all pytest node ids)."""
    tests = f2p + p2p
    if not tests or not all(_NODE_ID.match(t) for t in tests):
        return ""
    cmd = f"{DERIVED_PYTEST} {' '.join(shlex.quote(f) for f in node_id_files(tests))}"
    return f"{CONDA} && {cmd}" if conda else cmd


def eval_command(eval_script: str) -> str:
    """The part of a 5.x eval script a grader that handles test files itself runs: the environment lines before
    the start marker (source, conda activate, export, cd) and the command lines between the markers."""
    from swebench.harness.constants import END_TEST_OUTPUT, START_TEST_OUTPUT

    env, cmd, inside = [], [], False
    for line in eval_script.splitlines():
        if START_TEST_OUTPUT in line:
            inside = True
        elif END_TEST_OUTPUT in line:
            break
        elif inside:
            cmd.append(line)
        elif _ENV_LINE.match(line.strip()):
            env.append(line.strip())
    if not inside or not any(c.strip() for c in cmd):
        raise InputError(f"eval_script has no command between {START_TEST_OUTPUT!r} and {END_TEST_OUTPUT!r}")
    return " && ".join(env + ["{ " + "; ".join(c for c in cmd if c.strip()) + "; }"])


def image_candidates(task) -> list[str]:
    """The names a task's image may go by locally, best first (the row's own name first)."""
    names = [task.image] if task.image else []
    alias = task.extra.get("image_published")
    if alias and alias not in names:
        names.append(alias)
    return names


def json_list(value, name: str) -> list:
    """A test list given as a list or as a JSON string (the Hub's form)."""
    if not isinstance(value, str):
        return list(value or [])
    try:
        return json.loads(value) if value.strip() else []
    except json.JSONDecodeError as exc:
        raise InputError(f"field {name!r}: not a JSON list ({exc.msg})") from None


# Row columns that become Task fields under another name; everything else unknown goes to Task.extra.
_RENAMED = ("FAIL_TO_PASS", "PASS_TO_PASS", "patch", "image_name", "docker_image", "schema")


def published_fields(row: dict, dataset: str | None, known: set[str]) -> tuple[dict, dict]:
    """(Task keyword arguments, Task.extra) for a published row, by its dataset's conventions."""
    dataset = dataset or detect_dataset(row)
    if dataset not in DATASETS:
        raise InputError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    iid = row["instance_id"]
    kw = {k: v for k, v in row.items() if k in known and k not in ("fail_to_pass", "pass_to_pass", "extra")}
    extra = dict(row.get("extra") or {})
    extra.update({k: v for k, v in row.items() if k not in known and k not in _RENAMED})
    extra["dataset"] = dataset
    f2p = json_list(row.get("FAIL_TO_PASS", row.get("fail_to_pass")), "FAIL_TO_PASS")
    p2p = json_list(row.get("PASS_TO_PASS", row.get("pass_to_pass")), "PASS_TO_PASS")
    patch = row.get("patch") if isinstance(row.get("patch"), str) else None
    image = row.get("image") or row.get("image_name") or row.get("docker_image")
    if dataset == "swe-smith":
        if patch:
            extra["bug_patch"] = patch
            kw.setdefault("gold_patch", reverse_patch(patch))
        if image and swesmith_published(image):
            extra["image_published"] = swesmith_published(image)
    elif patch:
        kw.setdefault("gold_patch", patch)
    kw["image"] = image or (swegym_image(iid) if dataset == "swe-gym" else swebench_image(iid))
    extra["image_source"] = "row" if image else f"{dataset} naming convention"
    script = row.get("eval_script")
    if isinstance(script, str) and script.strip():
        kw["test_command"] = eval_command(script)
        extra["test_command_source"] = "from the row's eval_script"
    elif not isinstance(row.get("test_command"), str):
        kw["test_command"] = derived_test_command(f2p, p2p)
        extra["test_command_source"] = ("derived from the test ids" if kw["test_command"]
                                        else "none (the test ids are not pytest node ids)")
    kw.setdefault("log_parser", "parse_log_pytest")
    return kw, extra
