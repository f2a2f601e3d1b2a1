"""Task suites on disk: the recipe (suite.yaml: pinned packages, split, test paths) and the tasks file (tasks.jsonl)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from srl_agent.errors import ConfigError, InputError
from srl_agent.jsonio import read_json_or_jsonl
from srl_agent.runner import atomic_write
from srl_agent.task import Task

SUITE_SCHEMA = "srl-suite/1"
TASKS_FILE = "tasks.jsonl"
RECIPE_FILE = "suite.yaml"
DEFAULT_SUITE = "pypi-mutants"
# The pytest invocation every suite task uses: -rA prints one status line per test for swebench's parser.
PYTEST = "python3 -m pytest -rA -p no:cacheprovider -W ignore::DeprecationWarning"


def suites_root() -> Path:
    """The suites shipped in the package (srl_agent/resources/suites); $SRL_SUITES overrides."""
    from srl_agent.resources import resource_dir

    env = os.environ.get("SRL_SUITES")
    if env:
        return Path(env)
    return resource_dir("suites")


def cache_dir() -> Path:
    """Where fetched sdists and build records are kept: $SRL_HOME or ~/.cache/srl-agent."""
    root = os.environ.get("SRL_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "srl-agent")
    return Path(root)


@dataclass(frozen=True)
class PackageSpec:
    name: str
    version: str
    sha256: str
    split: str
    source: tuple[str, ...]
    tests: str
    skip_modules: tuple[str, ...] = ()
    tasks: int = 12

    @property
    def key(self) -> str:
        """The package's id inside task ids and image tags, e.g. `more-itertools-10.5.0`."""
        return f"{self.name}-{self.version}"


@dataclass
class Suite:
    name: str
    path: Path
    seed: int
    packages: list[PackageSpec] = field(default_factory=list)

    @property
    def tasks_path(self) -> Path:
        return self.path / TASKS_FILE

    def package(self, name: str) -> PackageSpec:
        for p in self.packages:
            if p.name == name or p.key == name:
                return p
        raise InputError(f"suite {self.name!r} has no package {name!r}; it has {[p.name for p in self.packages]}")


def resolve_suite_dir(name_or_path: str | os.PathLike) -> Path:
    """A suite name (folder under srl_agent/resources/suites) or a path to a suite folder or tasks file's folder."""
    p = Path(name_or_path)
    if p.is_file():
        return p.parent
    if p.is_dir():
        return p
    cand = suites_root() / str(name_or_path)
    if cand.is_dir():
        return cand
    known = sorted(d.name for d in suites_root().glob("*") if d.is_dir()) if suites_root().is_dir() else []
    raise InputError(f"no task suite {str(name_or_path)!r}: give a suite name ({', '.join(known) or 'none found'}) "
                     "or a path to a folder with suite.yaml / tasks.jsonl")


def load_recipe(name_or_path: str | os.PathLike) -> Suite:
    path = resolve_suite_dir(name_or_path)
    recipe = path / RECIPE_FILE
    if not recipe.is_file():
        return Suite(name=path.name, path=path, seed=0)
    try:
        data = yaml.safe_load(recipe.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{recipe}: not valid YAML ({exc})") from None
    pkgs = []
    for i, row in enumerate(data.get("packages") or []):
        try:
            pkgs.append(PackageSpec(
                name=str(row["name"]), version=str(row["version"]), sha256=str(row["sha256"]).lower(),
                split=str(row.get("split", "train")), source=tuple(row["source"]), tests=str(row["tests"]),
                skip_modules=tuple(row.get("skip_modules") or ()), tasks=int(row.get("tasks", 12))))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{recipe}: package #{i + 1} is missing or has a bad field ({exc})") from None
    return Suite(name=str(data.get("name", path.name)), path=path, seed=int(data.get("seed", 0)), packages=pkgs)


def read_tasks(path: Path) -> list[Task]:
    """Read a tasks file: JSONL of Task records (SWE-bench rows load too), or a JSON list."""
    if not path.is_file():
        raise InputError(f"{path}: no tasks file; run `srl tasks build SUITE --discover` to create it")
    rows = read_json_or_jsonl(path)
    return [Task.from_row(r) for r in (rows if isinstance(rows, list) else [rows])]


def write_tasks(path: Path, tasks: list[Task]) -> None:
    atomic_write(path, "".join(json.dumps(t.to_dict(), sort_keys=True) + "\n" for t in tasks))


def split_suite_spec(spec: str) -> tuple[str, str | None]:
    """`SUITE[:split]` -> (suite, split), the one way tasks are named with a split; a path that merely contains
    ':' (and exists) stays whole."""
    name, sep, split = str(spec).rpartition(":")
    if not sep or not name or "/" in split or not split or Path(spec).exists():
        return str(spec), None
    return name, split


def load_suite(name_or_path: str | os.PathLike = DEFAULT_SUITE, split: str | None = None) -> list[Task]:
    """The tasks of a suite (a name under srl_agent/resources/suites, a folder, or a tasks file), optionally one split."""
    p = Path(name_or_path)
    tasks = read_tasks(p if p.is_file() else resolve_suite_dir(name_or_path) / TASKS_FILE)
    if split is not None:
        splits = sorted({t.split for t in tasks if t.split})
        if split not in splits:
            raise InputError(f"split {split!r} not in this suite; it has {splits}")
        tasks = [t for t in tasks if t.split == split]
    return tasks


def find_task(instance_id: str, suite: str | os.PathLike | None = None) -> Task:
    """Look a task up by id in one suite (anything `load_suite` takes, `SUITE:split` too), or in every bundled
    suite."""
    if suite:
        name, split = split_suite_spec(str(suite))
        candidates = [load_suite(name, split=split)]
    else:
        candidates = [read_tasks(d / TASKS_FILE) for d in sorted(suites_root().glob("*"))
                      if (d / TASKS_FILE).is_file()]
    for tasks in candidates:
        for t in tasks:
            if t.instance_id == instance_id:
                return t
    where = f"suite {suite}" if suite else "the bundled suites"
    raise InputError(f"no task {instance_id!r} in {where}; `srl tasks list {suite or 'SUITE'}` shows the ids")
