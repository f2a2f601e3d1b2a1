"""The `srl` command: thin argument parsing; every subcommand group lives beside the code it drives."""

from __future__ import annotations

import argparse
import importlib
import sys

from srl_agent import __version__
from srl_agent.errors import SRLError

# Each module exposes `register(subparsers)`; it adds its parsers and sets `func(args) -> int` on them.
# Imported lazily per group so `srl --help` does not import torch.
COMMAND_MODULES = {
    "env": "srl_agent.sandbox.cli",
    "traj": "srl_agent.trajectory.cli",
    "student": "srl_agent.policy.cli",
    "train": "srl_agent.train.cli",
    "tasks": "srl_agent.tasks.cli",
    "grade": "srl_agent.grading_cli",
    "eval": "srl_agent.eval_cli",
    "eval-steps": "srl_agent.eval_cli",
    "traces": "srl_agent.traces.cli",
    "demo": "srl_agent.demo",
}

HELP = {
    "env": "Docker engine, base image and sandboxes (setup, run, shell, gc)",
    "traj": "expert trajectories: import, split, replay, generate, stats, show",
    "student": "the default tiny student model (init)",
    "train": "train a student: srl | sft | rlvr | srl-then-rlvr",
    "tasks": "task suites: build, list, show",
    "grade": "grade SWE-bench-style predictions in containers",
    "eval": "run a student as an agent on tasks in containers",
    "eval-steps": "mean step reward of a student on held-out step examples",
    "traces": "view traces and trajectories as a self-contained HTML page",
    "demo": "the whole pipeline on the bundled default",
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srl", description="Supervised Reinforcement Learning for SWE agents.")
    parser.add_argument("--version", action="version", version=f"srl-agent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = argv[0] if argv and not argv[0].startswith("-") else None
    registered: set[str] = set()
    for name, module_name in COMMAND_MODULES.items():
        if module_name in registered or name in sub.choices:
            continue
        if wanted is not None and name != wanted and not _serves(module_name, wanted):
            sub.add_parser(name, help=HELP[name])
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not exc.name or not module_name.startswith(exc.name):
                raise
            p = sub.add_parser(name, help=HELP[name] + " (not available yet)")
            p.set_defaults(func=lambda _a, n=name: _not_yet(n))
            continue
        module.register(sub)
        registered.add(module_name)
    return parser


def _serves(module_name: str, command: str) -> bool:
    """True when `command` is registered by the same module as another group (e.g. eval and eval-steps)."""
    return COMMAND_MODULES.get(command) == module_name


def _not_yet(name: str) -> int:
    print(f"srl {name}: this stage is not built yet in this version of srl-agent.", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if not argv else 2
    try:
        return int(args.func(args) or 0)
    except SRLError as exc:
        print(f"srl {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"srl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
