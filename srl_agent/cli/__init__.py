"""The `srl` command: thin argument parsing; every subcommand group lives beside the code it drives."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from srl_agent import __version__
from srl_agent.cli.helpers import Parser, output_settings
from srl_agent.errors import SRLError, UsageError
from srl_agent.runner import Interrupted

USAGE_EXIT, FAILURE_EXIT, INTERRUPT_EXIT, PIPE_EXIT = 2, 1, 130, 141

# Each module exposes `register(subparsers)`; it adds its parsers and sets `func(args) -> int` on them.
# Imported lazily per group so `srl --help` does not import torch.
COMMAND_MODULES = {
    "env": "srl_agent.cli.env",
    "traj": "srl_agent.cli.traj",
    "student": "srl_agent.cli.student",
    "train": "srl_agent.cli.train",
    "tasks": "srl_agent.cli.tasks",
    "grade": "srl_agent.cli.grade",
    "eval": "srl_agent.cli.eval",
    "eval-steps": "srl_agent.cli.eval",
    "traces": "srl_agent.cli.traces",
    "demo": "srl_agent.cli.demo",
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
    parser = Parser(prog="srl", description="Supervised Reinforcement Learning for SWE agents.",
                    epilog="Exit codes: 0 done, 1 a failure (a run, Docker, a model), 2 a usage error (a bad flag "
                           "value, an input that is missing or unreadable, an output that cannot be written), "
                           "130 interrupted.")
    parser.add_argument("--version", action="version", version=f"srl-agent {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="show the libraries' warnings (-vv: also their info logs) and tracebacks of failures")
    parser.add_argument("-q", "--quiet", action="count", default=0,
                        help="only results, warnings and errors (no progress bars or lines)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = next((a for a in argv if not a.startswith("-")), None)
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
    _name_parsers(parser)
    return parser


def _name_parsers(parser: argparse.ArgumentParser) -> None:
    """Every parser records its own prog (`srl traj import`), so that errors name the subcommand as typed."""
    parser.set_defaults(prog=parser.prog)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _name_parsers(child)


def _serves(module_name: str, command: str) -> bool:
    """True when `command` is registered by the same module as another group (e.g. eval and eval-steps)."""
    return COMMAND_MODULES.get(command) == module_name


def _not_yet(name: str) -> int:
    print(f"srl {name}: this stage is not built yet in this version of srl-agent.", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run one `srl` command; returns the exit code (see the parser's epilog)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    prog, verbose = "srl", 0
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        prog, verbose = args.prog, args.verbose - args.quiet
        if not getattr(args, "func", None):
            parser.print_help()
            return 0 if not argv else USAGE_EXIT
        with output_settings(verbose):
            code = int(args.func(args) or 0)
            sys.stdout.flush()  # inside the try: a closed pipe is then caught here, not at interpreter exit
        return code
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else USAGE_EXIT)
    except Interrupted as exc:  # a run stopped by Ctrl-C after writing its partial outputs
        print(f"{prog}: {exc}", file=sys.stderr)
        return INTERRUPT_EXIT
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return USAGE_EXIT
    except SRLError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return FAILURE_EXIT
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return INTERRUPT_EXIT
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except OSError as exc:
        # A file the library could not write or read (disk full, a permission changed under a run): one line,
        # since the arguments were already checked; -v shows where it happened.
        if verbose > 0 or not exc.filename:
            raise
        print(f"{prog}: error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return FAILURE_EXIT


def _quiet_broken_pipe() -> int:
    """The reader of our stdout went away (`srl tasks show ID | head`): stop quietly, as other CLIs do. stdout is
    pointed at /dev/null so that the interpreter's final flush does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return PIPE_EXIT


if __name__ == "__main__":
    sys.exit(main())
