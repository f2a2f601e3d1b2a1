"""Imports point down the pipeline: a module may import its own layer or a lower one, never a higher one.

The layer order (docs/architecture.md, "Layers"), lowest first:
  core < sandbox < tasks < trajectory < policy < eval < train < traces < demo < cli
Every import of every module is checked, the ones inside functions too (a lazy import is still a dependency).
A failure names the file, the line, the import and both layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "srl_agent"

# Module prefixes per layer; the longest matching prefix decides.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # boundary types and pure functions every part shares
    ("core", ("srl_agent", "srl_agent.__version__", "srl_agent.errors", "srl_agent.actions", "srl_agent.task",
              "srl_agent.task_rows", "srl_agent.jsonio", "srl_agent.pyast", "srl_agent.step_example",
              "srl_agent.grade_report", "srl_agent.patch_filter", "srl_agent.prompts", "srl_agent.reward",
              "srl_agent.edit_blocks", "srl_agent.logs", "srl_agent.progress", "srl_agent.runner",
              "srl_agent.resources", "srl_agent.traces.schema", "srl_agent.traces.step_results")),
    ("sandbox", ("srl_agent.sandbox",)),
    # task images, task sandboxes on a backend (the Ray pool serves task sandboxes and grades), grading
    ("tasks", ("srl_agent.tasks", "srl_agent.grading", "srl_agent.grading_run", "srl_agent.grading_batch",
               "srl_agent.sandbox.ray_pool")),
    ("trajectory", ("srl_agent.trajectory",)),
    ("policy", ("srl_agent.policy",)),
    ("eval", ("srl_agent.eval",)),
    ("train", ("srl_agent.train",)),
    ("traces", ("srl_agent.traces",)),
    ("demo", ("srl_agent.demo",)),
    # argument parsing and output; train.launch is the accelerate entry point, a command line of its own
    ("cli", ("srl_agent.cli", "srl_agent.train.launch")),
]
SKIP = ("sandbox/incontainer/",)  # runs inside the task container with the system Python; imports nothing of ours


def layer_of(module: str) -> tuple[int, str]:
    best: tuple[int, str, int] | None = None
    for index, (name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[2]):
                best = (index, name, len(prefix))
    if best is None:
        raise AssertionError(f"{module}: in no layer; add it to LAYERS in tests/test_layers.py "
                             "(and to docs/architecture.md)")
    return best[0], best[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every absolute import of srl_agent in the file; relative imports are refused."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                found.append((node.lineno, "<relative import>"))
            elif node.module == "srl_agent":
                found += [(node.lineno, f"srl_agent.{a.name}") for a in node.names]
            elif node.module and node.module.startswith("srl_agent."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("srl_agent")]
    return found


def upward_imports(root: Path = PKG) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(SKIP):
            continue
        mine, my_layer = layer_of(module_name(path))
        for line, target in imports_of(path):
            if target == "<relative import>":
                bad.append(f"srl_agent/{rel}:{line}: relative import (write `from srl_agent.X import Y`)")
                continue
            theirs, their_layer = layer_of(target)
            if theirs > mine:
                bad.append(f"srl_agent/{rel}:{line}: imports {target} ({their_layer}) from the {my_layer} layer")
    return bad


def test_no_module_imports_a_higher_layer():
    bad = upward_imports()
    assert not bad, "imports must point down the pipeline (tests/test_layers.py):\n" + "\n".join(bad)


def test_the_check_catches_an_upward_import(tmp_path):
    """The check itself: a sandbox module that imports the trainer is reported with its file and line."""
    pkg = tmp_path / "srl_agent"
    (pkg / "sandbox").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sandbox" / "__init__.py").write_text("")
    (pkg / "sandbox" / "leak.py").write_text("import os\n\ndef f():\n    from srl_agent.train.srl import train\n")
    (pkg / "sandbox" / "fine.py").write_text("from srl_agent.errors import SRLError\n")
    global PKG
    saved, PKG = PKG, pkg
    try:
        bad = upward_imports(pkg)
    finally:
        PKG = saved
    assert bad == ["srl_agent/sandbox/leak.py:4: imports srl_agent.train.srl (train) from the sandbox layer"]


@pytest.mark.parametrize("module,layer", [("srl_agent.sandbox.pool", "sandbox"), ("srl_agent.cli.env", "cli"),
                                          ("srl_agent.traces.schema", "core"), ("srl_agent.traces.viewer", "traces"),
                                          ("srl_agent.sandbox.ray_pool", "tasks"), ("srl_agent", "core")])
def test_layer_of_takes_the_longest_prefix(module, layer):
    assert layer_of(module)[1] == layer
