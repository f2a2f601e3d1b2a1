"""Offline image building: the Debian base image (debootstrap | docker import) and layers on top of it."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from srl_agent.errors import DockerUnavailableError, ImageBuildError

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def recipe_dir() -> Path:
    """The base image recipe shipped in the package (srl_agent/resources/base)."""
    from srl_agent.resources import resource_dir

    return resource_dir("base")


def _recipe_hash() -> str:
    h = hashlib.sha256()
    for name in ("packages.txt", "Dockerfile"):
        h.update((recipe_dir() / name).read_bytes())
    return h.hexdigest()[:10]


BASE_IMAGE = f"srl-agent-base:{SUITE}-{_recipe_hash()}"


def _docker(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    if shutil.which("docker") is None:
        raise DockerUnavailableError("the `docker` client is not installed; run `srl env setup` or `make setup`")
    return subprocess.run(["docker", *args], check=check, text=True, capture_output=True, **kw)


def image_exists(tag: str) -> bool:
    return _docker("image", "inspect", tag, check=False).returncode == 0


def image_id(tag: str) -> str | None:
    """The image's content id (changes whenever it is rebuilt), or None when there is no such image."""
    r = _docker("image", "inspect", "-f", "{{.Id}}", tag, check=False)
    return r.stdout.strip() if r.returncode == 0 else None


def apt_mirror() -> str:
    """The Debian mirror this host's apt sources already name (the only one reachable here)."""
    candidates = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        for url in re.findall(r"(?:URIs:|deb)\s+(?:\[[^\]]*\]\s+)?(https?://\S+)", text):
            if "security" not in url and url.rstrip("/").endswith("debian"):
                return url
    return DEFAULT_MIRROR


def _ensure_debootstrap() -> str:
    exe = shutil.which("debootstrap")
    if exe:
        return exe
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ImageBuildError("debootstrap is needed to build the base image: install it (apt-get install debootstrap)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "debootstrap"], check=True, env=env, capture_output=True)
    return shutil.which("debootstrap") or "/usr/sbin/debootstrap"


def build_base_image(tag: str = BASE_IMAGE, *, force: bool = False, log=print) -> str:
    """Build the base image offline unless it already exists; return its tag."""
    if image_exists(tag) and not force:
        log(f"base image {tag}: present")
        return tag
    if os.geteuid() != 0:
        raise ImageBuildError("building the base image needs root (debootstrap); run `sudo srl env setup` once")
    debootstrap = _ensure_debootstrap()
    packages = [p.strip() for p in (recipe_dir() / "packages.txt").read_text().split() if p.strip()]
    rootfs_tag = tag.replace("srl-agent-base:", "srl-agent-rootfs:")
    mirror = apt_mirror()
    with tempfile.TemporaryDirectory(prefix="srl-rootfs-") as tmp:
        root = Path(tmp) / "root"
        log(f"base image {tag}: debootstrap {SUITE} from {mirror} (about a minute)")
        proc = subprocess.run(
            [debootstrap, "--variant=minbase", f"--include={','.join(packages)}", SUITE, str(root), mirror],
            text=True, capture_output=True,
        )
        if proc.returncode != 0:
            raise ImageBuildError(f"debootstrap failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        shutil.rmtree(root / "var" / "cache" / "apt" / "archives", ignore_errors=True)
        shutil.rmtree(root / "var" / "lib" / "apt" / "lists", ignore_errors=True)
        log(f"base image {tag}: docker import")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(["docker", "import", "-", rootfs_tag], stdin=tar.stdout, capture_output=True, text=True)
        tar.wait()
        if imp.returncode != 0 or tar.returncode != 0:
            raise ImageBuildError(f"docker import failed: {imp.stderr.strip()}")
    build_layer(tag, recipe_dir(), build_args={"ROOTFS_IMAGE": rootfs_tag})
    log(f"base image {tag}: built")
    return tag


def build_layer(tag: str, context: Path, *, build_args: dict[str, str] | None = None,
                dockerfile: str = "Dockerfile", no_cache: bool = False) -> str:
    """`docker build` a layer from a local context with the classic builder (no registry, no BuildKit needed)."""
    args = ["build", "-q", "-t", tag, "-f", str(Path(context) / dockerfile)] + (["--no-cache"] if no_cache else [])
    for k, v in (build_args or {}).items():
        args += ["--build-arg", f"{k}={v}"]
    proc = _docker(*args, str(context), check=False, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    if proc.returncode != 0:
        raise ImageBuildError(f"docker build of {tag} failed:\n{proc.stderr[-3000:]}")
    return tag


def ensure_engine(log=print) -> None:
    """Make a Docker engine answer (installing and starting one as root on Debian), or raise saying what to do."""
    script = Path(__file__).with_name("setup_docker.sh")
    proc = subprocess.run(["bash", str(script)], text=True, capture_output=True)
    for line in (proc.stdout + proc.stderr).splitlines():
        log(line)
    if proc.returncode != 0:
        raise DockerUnavailableError("no Docker engine is available; see the messages above")


if __name__ == "__main__":  # pragma: no cover
    ensure_engine()
    print(build_base_image())
    sys.exit(0)
