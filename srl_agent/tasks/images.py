"""One image per package version: the base image plus the unpacked sdist as a git repo in /testbed (the clean state)."""

from __future__ import annotations

import hashlib
import os
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
DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY --chown=1000:1000 src/ /testbed/
USER agent
ENV PYTHONPATH=/testbed
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
    h = hashlib.sha256(f"{base_image}\n{DOCKERFILE}\n{spec.sha256}".encode()).hexdigest()[:10]
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
        (ctx / "Dockerfile").write_text(DOCKERFILE.replace("$PKG_KEY", spec.key))
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
