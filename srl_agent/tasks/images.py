"""One image per package version: the base image plus the unpacked sdist as a git repo in /testbed (the clean state)."""

from __future__ import annotations

import hashlib
import os
import shlex
import threading
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from srl_agent.errors import ImageBuildError
from srl_agent.sandbox.images import BASE_IMAGE, build_layer, image_exists
from srl_agent.tasks.sdist import fetch_sdist, unpack
from srl_agent.tasks.suite import PackageSpec

# Fixed dates and message make the clean commit's hash reproducible, so tasks can pin it as base_commit.
# /testbed is importable from anywhere through a root-owned .pth (as an editable install would make it), placed
# after the standard library (a json.py in the repo cannot shadow it) and before dist-packages (Debian's own
# more_itertools 8.10 must not shadow the task's). No PYTHONPATH: nothing in the environment points into the repo.
PTH = ("import sys; sys.path.insert(next((i for i, p in enumerate(sys.path) if p.endswith('-packages')), "
       "len(sys.path)), '/testbed')")
DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY --chown=1000:1000 src/ /testbed/
RUN d="$(python3 -c 'import site; print(site.getsitepackages()[0])')" && mkdir -p "$d" \\
 && echo "$PTH" > "$d/srl-testbed.pth"
USER agent
WORKDIR /testbed
RUN printf '__pycache__/\\n*.pyc\\n.pytest_cache/\\n' >> .gitignore \\
 && git init -q \\
 && git add -A \\
 && GIT_AUTHOR_DATE='2024-01-01T00:00:00+0000' GIT_COMMITTER_DATE='2024-01-01T00:00:00+0000' \\
    git commit -q -m "$PKG_KEY from its sdist" \\
 && git rev-parse HEAD > /home/agent/.srl_base_commit
"""


def image_tag(spec: PackageSpec, base_image: str = BASE_IMAGE) -> str:
    """Tag that changes whenever the base image, the recipe or the pinned sdist changes."""
    h = hashlib.sha256(f"{base_image}\n{DOCKERFILE}\n{PTH}\n{spec.sha256}".encode()).hexdigest()[:10]
    return f"srl-agent-pkg:{spec.key}-{h}"


@dataclass
class BuildResult:
    tag: str
    built: bool  # False when the image was already there
    seconds: float


def build_package_image(spec: PackageSpec, *, base_image: str = BASE_IMAGE, force: bool = False,
                        tag: str | None = None, no_cache: bool = False) -> BuildResult:
    """Fetch the sdist and build the package's image unless present (idempotent).

    `tag` and `no_cache` are for measuring a cold build (eval/bench_grading.py) without touching the real tag."""
    tag = tag or image_tag(spec, base_image)
    t0 = time.perf_counter()
    if image_exists(tag) and not force:
        return BuildResult(tag, False, time.perf_counter() - t0)
    archive = fetch_sdist(spec)
    with tempfile.TemporaryDirectory(prefix="srl-pkg-") as tmp:
        ctx = Path(tmp)
        top = unpack(archive, ctx / "unpacked")
        top.rename(ctx / "src")
        (ctx / "unpacked").rmdir()
        (ctx / "Dockerfile").write_text(DOCKERFILE.replace("$PKG_KEY", spec.key).replace('"$PTH"', shlex.quote(PTH)))
        if no_cache:
            proc = subprocess.run(["docker", "build", "-q", "--no-cache", "-t", tag, "--build-arg",
                                   f"BASE_IMAGE={base_image}", str(ctx)], capture_output=True, text=True,
                                  env={**os.environ, "DOCKER_BUILDKIT": "0"})
            if proc.returncode != 0:
                raise ImageBuildError(f"docker build of {tag} failed:\n{proc.stderr[-3000:]}")
        else:
            build_layer(tag, ctx, build_args={"BASE_IMAGE": base_image})
    return BuildResult(tag, True, time.perf_counter() - t0)


def unpacked_source(spec: PackageSpec, dest: Path) -> Path:
    """The package's clean source tree on the host (for AST work only; nothing of it runs on the host)."""
    return unpack(fetch_sdist(spec), dest)


# A task image is its package image plus one small layer: the bug applied and folded into the single commit
# (fixed dates) with the clean objects pruned, so no diff, log or reflog shows the fix (as in SWE-smith's task
# branches). The image is the task's start state, as SWE-bench's are: any harness that starts it and applies
# a patch grades that patch.
TASK_DOCKERFILE = """\
ARG PKG_IMAGE
FROM ${PKG_IMAGE}
COPY --chown=1000:1000 bug.patch /home/agent/.srl_task.patch
RUN git apply /home/agent/.srl_task.patch && rm -f /home/agent/.srl_task.patch && git add -A \\
 && GIT_AUTHOR_DATE='2024-01-01T00:00:00+0000' GIT_COMMITTER_DATE='2024-01-01T00:00:00+0000' \\
    git commit -q --amend --no-edit && git reflog expire --expire=now --all && git prune --expire=now
"""
_build_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


def task_image_tag(task, pkg_tag: str) -> str:
    bug = task.extra.get("bug_patch") or ""
    h = hashlib.sha256(f"{pkg_tag}\n{TASK_DOCKERFILE}\n{bug}".encode()).hexdigest()[:10]
    return f"srl-agent-task:{task.instance_id.lower()}-{h}"[:128]


def build_task_image(task, spec: PackageSpec, *, force: bool = False, tag: str | None = None,
                     no_cache: bool = False) -> BuildResult:
    """The task's start-state image (its package image built first if missing); idempotent, and one build per
    tag at a time when threads ask for the same task. `tag` is for measuring builds (eval/bench_grading.py)."""
    t0 = time.perf_counter()
    pkg = build_package_image(spec)
    tag = tag or task_image_tag(task, pkg.tag)
    with _locks_lock:
        lock = _build_locks.setdefault(tag, threading.Lock())
    with lock:
        if image_exists(tag) and not force:
            return BuildResult(tag, False, time.perf_counter() - t0)
        with tempfile.TemporaryDirectory(prefix="srl-task-") as tmp:
            ctx = Path(tmp)
            (ctx / "bug.patch").write_text(task.extra["bug_patch"])
            (ctx / "Dockerfile").write_text(TASK_DOCKERFILE)
            build_layer(tag, ctx, build_args={"PKG_IMAGE": pkg.tag}, no_cache=no_cache)
    return BuildResult(tag, True, time.perf_counter() - t0)
