"""Tasks as swebench 5.x instances: the instance (image, eval_script, log_parser, eval_type, F2P/P2P), its test
spec through swebench's own `make_test_spec`, a suite's export, and the images a set of tasks needs.

A bundled task's eval script follows the shape of SWE-bench's: restore the test files the patch may have
touched (`git checkout HEAD --`, HEAD being the start state the image holds), apply the task's test patch when
it has one, run the test command between swebench's markers, restore the test files again. swebench runs it as
root, so the work dir is marked safe for git first (as SWE-bench's own scripts do).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Iterable

from swebench.harness.constants import END_TEST_OUTPUT, START_TEST_OUTPUT
from swebench.harness.log_parsers import PARSER_REGISTRY
from swebench.harness.utils import make_test_spec
from swebench.types import TestSpec

from srl_agent.errors import InputError, SRLError
from srl_agent.task import Task
from srl_agent.task_rows import image_candidates, node_id_files

log = logging.getLogger(__name__)
INSTANCE_KEYS = ("instance_id", "repo", "base_commit", "version", "image", "eval_script", "log_parser", "eval_type",
                 "FAIL_TO_PASS", "PASS_TO_PASS", "patch", "test_patch", "problem_statement", "hints_text",
                 "created_at", "environment_setup_commit", "split")


class MissingImagesError(SRLError, LookupError):
    """Task images are neither here nor pullable; the message lists every one and how to get it."""


def swebench_parser(name: str) -> str:
    """swebench's registry name for a log parser given by us ("pytest") or by a row ("parse_log_pytest")."""
    from srl_agent.grading import PARSER_ALIASES

    full = PARSER_ALIASES.get(name, name)
    if full not in PARSER_REGISTRY:
        known = ", ".join(sorted(PARSER_REGISTRY)[:5])
        raise InputError(f"log parser {name!r} is not one of swebench's ({known}, ...)")
    return full


def _heredoc(text: str) -> tuple[str, str]:
    tag = "EOF_SRL_" + secrets.token_hex(6)
    while tag in text:
        tag = "EOF_SRL_" + secrets.token_hex(6)
    return tag, text if text.endswith("\n") else text + "\n"


def restored_files(task: Task) -> list[str]:
    """The test files put back to the start state before and after the run: those the test patch modifies and
    those the test ids name, less the ones the test patch creates (they are not in the start state)."""
    from unidiff import PatchSet

    added, modified = set(), []
    if task.test_patch:
        for f in PatchSet(task.test_patch):
            (added.add(f.path) if f.is_added_file else modified.append(f.path))
    files = modified + [f for f in node_id_files(task.fail_to_pass + task.pass_to_pass) if f not in added]
    return list(dict.fromkeys(files))


def eval_script_of(task: Task) -> str:
    """The row's own eval script when it has one, else one in SWE-bench's shape around `task.test_command`."""
    if task.eval_script:
        return task.eval_script
    if not task.test_command.strip():
        raise InputError(f"task {task.instance_id}: no eval_script and no test command could be derived from its "
                         "test ids (they are not pytest node ids); use a SWE-bench 5.x row (it carries eval_script) "
                         "or give the row a `test_command`")
    wd = shlex.quote(task.workdir)
    files = " ".join(shlex.quote(f) for f in restored_files(task))
    restore = [f"git checkout HEAD -- {files}"] if files else []
    lines = ["#!/bin/bash", "set -uxo pipefail", f"cd {wd}", f"git config --global --add safe.directory {wd}",
             *restore]
    if task.test_patch:
        tag, body = _heredoc(task.test_patch)
        lines.append(f"git apply -v - <<'{tag}'\n{body}{tag}")
    lines += [f": '{START_TEST_OUTPUT}'", task.test_command, f": '{END_TEST_OUTPUT}'", *restore]
    return "\n".join(lines) + "\n"


def to_instance(task: Task, image: str | None = None) -> dict:
    """The task as a swebench 5.x instance (what `make_test_spec` and `run_instance` read)."""
    inst = {
        "instance_id": task.instance_id, "repo": task.repo or task.extra.get("package") or task.instance_id,
        "base_commit": task.base_commit, "version": task.version or "", "image": image or task.image or "",
        "eval_script": eval_script_of(task), "log_parser": swebench_parser(task.log_parser),
        "eval_type": task.eval_type, "FAIL_TO_PASS": list(task.fail_to_pass), "PASS_TO_PASS": list(task.pass_to_pass),
        "patch": task.gold_patch or "", "test_patch": task.test_patch or "",
        "problem_statement": task.problem_statement,
        "hints_text": str(task.extra.get("hints_text") or ""), "created_at": str(task.extra.get("created_at") or ""),
        "environment_setup_commit": str(task.extra.get("environment_setup_commit") or task.base_commit),
        "split": task.split or "test",
    }
    if not inst["image"]:
        raise InputError(f"task {task.instance_id}: no image to name in the instance")
    return inst


def swebench_spec(task: Task, image: str | None = None) -> TestSpec:
    """swebench's own TestSpec for the task."""
    return make_test_spec(to_instance(task, image))


def export_instances(tasks: Iterable[Task], path: str | Path, *,
                     image_of: Callable[[Task], str] | None = None) -> int:
    """Write the tasks as swebench 5.x instances (JSONL); `image_of(task)` names each start-state image
    (default: srl_agent.tasks.resolve_image, which builds what is missing: a bundled task's image, the bug layer
    of a SWE-smith row)."""
    if image_of is None:
        from srl_agent.tasks.runtime import resolve_image as image_of
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for t in tasks:
            fh.write(json.dumps(to_instance(t, image_of(t)), ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n


def is_bundled(task: Task) -> bool:
    """Tasks of a bundled suite: their images are built here on demand, never pulled."""
    return bool(task.suite and task.extra.get("package") and task.extra.get("bug_patch") is not None)


def image_present(name: str) -> bool:
    from srl_agent.sandbox.images import image_exists

    return image_exists(name)


def _pull(name: str) -> bool:
    proc = subprocess.run(["docker", "pull", "-q", name], capture_output=True, text=True)
    if proc.returncode != 0:
        log.info("docker pull %s failed: %s", name, proc.stderr.strip()[-300:])
    return proc.returncode == 0


def ensure_images(tasks: Iterable[Task], *, pull: bool | None = None) -> dict[str, str]:
    """instance_id -> the local image name each published task will start from (bundled tasks are skipped:
    they are built on demand). A missing image is pulled when `pull` (default: unless SRL_NO_PULL=1); whatever
    is still missing ends in one MissingImagesError that lists every image and how to build or load it."""
    pull = os.environ.get("SRL_NO_PULL", "") not in ("1", "true", "yes") if pull is None else pull
    found: dict[str, str] = {}
    missing: dict[str, list[str]] = {}
    cache: dict[str, str | None] = {}
    for t in tasks:
        if is_bundled(t):
            continue
        names = image_candidates(t)
        if not names:
            raise InputError(f"task {t.instance_id} names no image")
        key = "\n".join(names)
        if key not in cache:
            cache[key] = next((n for n in names if image_present(n)), None)
            if cache[key] is None and pull:
                cache[key] = next((n for n in reversed(names) if _pull(n) and image_present(n)), None)
        if cache[key] is None:
            missing.setdefault(names[-1] if len(names) > 1 else names[0], []).append(t.instance_id)
        else:
            found[t.instance_id] = cache[key]
    if missing:
        raise MissingImagesError(missing_message(missing, pulled=pull))
    return found


def missing_message(missing: dict[str, list[str]], *, pulled: bool) -> str:
    rows = []
    for image, ids in sorted(missing.items()):
        more = f", +{len(ids) - 3} more" if len(ids) > 3 else ""
        rows.append(f"  {image}  (task {', '.join(ids[:3])}{more})")
    how = ("pulling them failed (no registry reachable?)" if pulled else "pulling is off (SRL_NO_PULL=1)")
    return (f"{len(missing)} task image(s) are not on this machine and {how}:\n" + "\n".join(rows) + "\n"
            "Get them with `docker pull IMAGE` where a registry is reachable; offline, on a machine that has them "
            "run `docker save IMAGE -o image.tar`, copy the file here and run `docker load -i image.tar`; "
            "SWE-bench images can also be built from a task repo with `swebench images build TASK_REPO -i ID`.")


# A published task whose bug is a patch (SWE-smith's rows) starts from its image with the bug applied and folded
# into the commit (fixed dates) and the old commit pruned, like the bundled task images: the start state is an
# image any harness can use, and git shows no trace of the fix.
BUG_LAYER = """\
ARG BASE
FROM ${BASE}
COPY --chown=$OWNER bug.patch /tmp/srl_bug.patch
RUN cd "$WORKDIR" && git apply /tmp/srl_bug.patch && rm -f /tmp/srl_bug.patch && git add -A \\
 && GIT_AUTHOR_DATE='2024-01-01T00:00:00+0000' GIT_COMMITTER_DATE='2024-01-01T00:00:00+0000' \\
    git -c user.name=srl -c user.email=srl@localhost commit -q --amend --no-edit \
 && git reflog expire --expire=now --all && git prune --expire=now
"""


def bug_layer_tag(base: str, bug_patch: str, instance_id: str) -> str:
    h = hashlib.sha256(f"{base}\n{BUG_LAYER}\n{bug_patch}".encode()).hexdigest()[:10]
    return f"srl-agent-start:{instance_id.lower()[:100]}-{h}"


def build_bug_layer(base: str, bug_patch: str, instance_id: str, workdir: str = "/testbed") -> str:
    """The start-state image: `base` with `bug_patch` applied in `workdir` and committed (built once per tag)."""
    from srl_agent.sandbox.images import build_layer, image_exists

    tag = bug_layer_tag(base, bug_patch, instance_id)
    if not image_exists(tag):
        # the patch file belongs to the image's own user, so the RUN step (as that user) can delete it
        user = subprocess.run(["docker", "image", "inspect", "-f", "{{.Config.User}}", base], capture_output=True,
                              text=True).stdout.strip() or "root"
        recipe = BUG_LAYER.replace('"$WORKDIR"', shlex.quote(workdir)).replace("$OWNER", user)
        with tempfile.TemporaryDirectory(prefix="srl-bug-") as tmp:
            (Path(tmp) / "bug.patch").write_text(bug_patch)
            (Path(tmp) / "Dockerfile").write_text(recipe)
            build_layer(tag, Path(tmp), build_args={"BASE": base})
    return tag

