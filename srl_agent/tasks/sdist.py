"""Fetch a pinned PyPI sdist (pip download, sha256 verified, cached) and unpack it."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from srl_agent.errors import InputError, SRLError
from srl_agent.tasks.suite import PackageSpec, cache_dir


class FetchError(SRLError, OSError):
    """An sdist could not be downloaded or did not match its pinned sha256."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cached(spec: PackageSpec, where: Path) -> Path | None:
    for p in where.glob("*"):
        if p.is_file() and p.name.endswith((".tar.gz", ".zip")) and sha256_of(p) == spec.sha256:
            return p
    return None


def fetch_sdist(spec: PackageSpec, *, cache: Path | None = None) -> Path:
    """The sdist archive of `spec`, downloaded once with `pip download --no-binary=:all:` and sha256-checked."""
    where = (cache or cache_dir()) / "sdists" / spec.key
    where.mkdir(parents=True, exist_ok=True)
    hit = _cached(spec, where)
    if hit:
        return hit
    with tempfile.TemporaryDirectory(prefix="srl-sdist-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary=:all:", "--no-deps",
               "-d", tmp, f"{spec.name}=={spec.version}"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        files = [p for p in Path(tmp).iterdir() if p.is_file()]
        if proc.returncode != 0 or not files:
            raise FetchError(f"could not download {spec.name}=={spec.version} from the package index "
                             f"(is it reachable?):\n{proc.stderr.strip()[-1500:]}")
        got = files[0]
        digest = sha256_of(got)
        if digest != spec.sha256:
            raise FetchError(f"{got.name}: sha256 {digest} does not match the pinned {spec.sha256}; "
                             "the index served a different file: check the pin in suite.yaml")
        dest = where / got.name
        shutil.move(str(got), dest)
    return dest


def unpack(archive: Path, dest: Path) -> Path:
    """Unpack an sdist into dest and return its single top-level folder."""
    dest.mkdir(parents=True, exist_ok=True)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)
    else:
        with tarfile.open(archive) as t:
            t.extractall(dest, filter="data")
    tops = [p for p in dest.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise InputError(f"{archive.name}: expected one top-level folder in the sdist, found {len(tops)}")
    return tops[0]
