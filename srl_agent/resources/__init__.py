"""Data the package ships and reads at run time: the base image recipe (base/), the task suites (suites/), the
training presets (srl_agent/resources/configs/, with accelerate recipes in srl_agent/resources/configs/accelerate/) and the bundled expert trajectories
(trajectories/). Read through `resource_dir` so an installed wheel finds them as a checkout does."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def resource_dir(*parts: str) -> Path:
    """A folder (or file) under srl_agent/resources as a filesystem path.

    The package is always installed unpacked (setuptools wheels, editable installs), so the Traversable that
    importlib.resources returns is a real directory; docker builds and globbing need one."""
    return Path(str(resources.files(__name__).joinpath(*parts)))
