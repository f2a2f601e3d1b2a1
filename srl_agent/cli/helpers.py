"""What every `srl` subcommand shares: argparse types for numbers and paths, checks of inputs and outputs that
run before any work, the one `SUITE[:split]` parser, and quiet third-party output.

Every check fails with a UsageError (exit 2) or argparse's own error (exit 2), one line that names the flag or
file, says what is wrong and what to do. Argument types check without side effects (no folder is created
while parsing); the command creates its outputs when it runs.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from srl_agent.errors import UsageError
from srl_agent.jsonio import binary_kind

MAX_SEED = 2**32 - 1  # numpy's limit, which transformers.set_seed hits


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no multi-line usage block), exit code 2 as always."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


# --------------------------------------------------------------------------------------------------- numbers
def _bounds(lo, hi, *, strict: bool = False, what: str = "") -> str:
    """`1 or more`, `above 0`, `between 0 and 1`, with `what` explaining a special value."""
    if lo is not None and hi is not None:
        text = f"above {lo} and at most {hi}" if strict else f"between {lo} and {hi}"
    elif lo is not None:
        text = f"above {lo}" if strict else f"{lo} or more"
    else:
        text = f"{hi} or less" if hi is not None else "a number"
    return text + (f" ({what})" if what else "")


def whole(at_least: int | None = None, at_most: int | None = None, what: str = "") -> Callable[[str], int]:
    """An argparse type: an integer in [at_least, at_most]; `what` names a special value (e.g. '-1 = all')."""
    bounds = _bounds(at_least, at_most, what=what)

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, {bounds}; got {text!r}") from None
        if (at_least is not None and value < at_least) or (at_most is not None and value > at_most):
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value

    parse.__name__ = "whole number"
    return parse


def number(above: float | None = None, at_least: float | None = None, at_most: float | None = None
           ) -> Callable[[str], float]:
    """An argparse type: a finite float, > `above` or >= `at_least`, <= `at_most`."""
    lo, strict = (above, True) if above is not None else (at_least, False)
    bounds = _bounds(lo, at_most, strict=strict)

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, {bounds}; got {text!r}") from None
        bad = not math.isfinite(value) or (lo is not None and (value <= lo if strict else value < lo)) or (
            at_most is not None and value > at_most)
        if bad:
            raise argparse.ArgumentTypeError(f"must be a number {bounds}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


positive_int = whole(1)
nonneg_int = whole(0)
seed = whole(0, MAX_SEED)
context_rounds = whole(-1, what="-1 = all")
positive_float = number(above=0)
nonneg_float = number(at_least=0)
probability = number(above=0, at_most=1)


def memory_size(text: str) -> str:
    """A Docker memory size: a number with an optional b, k, m or g suffix (`2g`, `512m`)."""
    if not re.fullmatch(r"\d+(\.\d+)?[bkmg]?", text.strip().lower()) or float(re.sub("[bkmg]", "", text.lower())) <= 0:
        raise argparse.ArgumentTypeError(f"expected a size such as 512m or 2g (a number and b, k, m or g), got {text!r}")
    return text.strip().lower()


# ------------------------------------------------------------------------------------------------------ paths
def input_problem(path: str | Path, *, kind: str = "file", text: bool = False) -> str | None:
    """Why `path` cannot be read as an input (`kind`: file, folder or any), or None when it can."""
    p = Path(path).expanduser()
    if not p.exists():
        parent = next((a for a in p.parents if a.exists()), None)
        where = "" if parent is None or parent == p.parent else f" (no folder {p.parent})"
        return f"no such {'file or folder' if kind == 'any' else kind}{where}"
    if kind == "file" and p.is_dir():
        return "is a folder; give a file"
    if kind == "folder" and not p.is_dir():
        return "is a file; give a folder"
    if not os.access(p, os.R_OK):
        return "not readable (permission denied)"
    if text and p.is_file():
        try:
            what = binary_kind(p)
        except OSError as exc:
            return f"cannot be read ({exc.strerror})"
        if what:
            return f"is not a text file (it looks like {what})"
    return None


def output_problem(path: str | Path, *, kind: str = "file") -> str | None:
    """Why `path` cannot be written as an output `file` or `folder` (missing folders are fine: they are created)."""
    p = Path(path).expanduser()
    if kind == "file" and p.is_dir():
        return f"is a folder; give a file name, e.g. {p / 'out'}"
    if kind == "folder" and p.exists() and not p.is_dir():
        return "is a file; give a folder (it is created when missing)"
    if p.exists() and not os.access(p, os.W_OK):
        return "not writable (permission denied); pick another path"
    base = next((a for a in [p.parent, *p.parent.parents] if a.exists()), None) if not p.is_dir() else p
    if base is None:
        return None
    if not base.is_dir():
        return f"{base} is a file, so no folder can be made under it"
    probe = _probe_writable(base)
    if probe:
        return f"cannot write in {base} ({probe}); pick another path"
    return None


def _probe_writable(folder: Path) -> str | None:
    """Creating a file is the only test that also holds for root and for read-only mounts."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".srl-write-check-")
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    os.unlink(name)
    return None


def _arg_type(check: Callable[[str], str | None], name: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        problem = check(text)
        if problem:
            raise argparse.ArgumentTypeError(f"{text}: {problem}")
        return text

    parse.__name__ = name
    return parse


input_file = _arg_type(lambda t: input_problem(t), "file")
input_path = _arg_type(lambda t: input_problem(t, kind="any"), "path")
text_file = _arg_type(lambda t: input_problem(t, text=True), "text file")
output_file = _arg_type(lambda t: output_problem(t), "output file")
output_dir = _arg_type(lambda t: output_problem(t, kind="folder"), "output folder")


def check_input(path: str | Path, flag: str, *, kind: str = "file", text: bool = False, hint: str = "") -> Path:
    """`path` as an input, or a UsageError naming `flag` (for checks that depend on other arguments)."""
    problem = input_problem(path, kind=kind, text=text)
    if problem:
        raise UsageError(f"{flag} {path}: {problem}{'; ' + hint if hint else ''}")
    return Path(path)


def check_output(path: str | Path, flag: str, *, kind: str = "file") -> Path:
    problem = output_problem(path, kind=kind)
    if problem:
        raise UsageError(f"{flag} {path}: {problem}")
    return Path(path)


def check_distinct(output: str | Path | None, inputs: list, flag: str) -> None:
    """An output that is also one of the inputs would be overwritten by the command that reads it."""
    if output is None:
        return
    out = Path(output).expanduser().resolve()
    for name in inputs:
        if name is not None and Path(name).expanduser().exists() and Path(name).expanduser().resolve() == out:
            raise UsageError(f"{flag} {output}: is also an input of this command; writing it would overwrite "
                             "what is being read; give another path")


def check_model(name: str | None, flag: str = "--model", *, tokenizer: bool = False) -> None:
    """A --model value that cannot be a model, caught before anything loads: `tiny`, an HF id (OWNER/NAME) or a
    model folder (with config.json) pass; a missing path, a file, or a folder without a model do not.
    `tokenizer`: a folder with only a tokenizer passes too."""
    if name in (None, "", "tiny"):
        return
    p = Path(name).expanduser()
    if p.is_dir():
        marks = ("config.json", "adapter_config.json") + (("tokenizer.json", "tokenizer_config.json") if tokenizer
                                                          else ())
        if any((p / mark).is_file() for mark in marks):
            return
        hint = f"; did you mean {p / 'final'}?" if (p / "final" / "config.json").is_file() else (
            "; give a model folder (a training run's model is in RUN/final), an HF id or `tiny`")
        raise UsageError(f"{flag} {name}: this folder holds no model (no config.json){hint}")
    if p.exists():
        raise UsageError(f"{flag} {name}: is a file; give a model folder, an HF id (OWNER/NAME) or `tiny`")
    looks_like_path = name.startswith(("/", "./", "../", "~")) or name.count("/") > 1 or os.sep + os.sep in name
    if looks_like_path:
        raise UsageError(f"{flag} {name}: no such model folder")


def check_steps_dataset(path: str | Path, flag: str = "--data", split: str | None = None) -> Path:
    """A step-example folder from `srl traj split` (a saved DatasetDict or Dataset) holding `split`, checked
    without loading it."""
    import json

    p = check_input(path, flag, kind="folder", hint="make step examples with `srl traj split TRAJ.jsonl -o DIR`")
    splits_file = p / "dataset_dict.json"
    if not splits_file.is_file():
        if (p / "dataset_info.json").is_file() or (p / "state.json").is_file():
            return p  # a single saved Dataset: it has no splits to check
        raise UsageError(f"{flag} {path}: not a step-example dataset (no dataset_dict.json); make one with "
                         f"`srl traj split TRAJ.jsonl -o {path}`")
    try:
        splits = json.loads(splits_file.read_text(encoding="utf-8")).get("splits") or []
    except (OSError, ValueError, AttributeError):
        raise UsageError(f"{flag} {path}: its dataset_dict.json is unreadable; make the dataset again with "
                         "`srl traj split`") from None
    if split is not None and split not in splits:
        hint = " (`srl traj split --val-trajectories N` holds some out)" if split == "validation" else ""
        raise UsageError(f"{flag} {path}: no split {split!r} in it (it has {', '.join(splits) or 'none'}){hint}")
    return p


# ---------------------------------------------------------------------------------------------- task suites
def suite_and_split(spec: str, split: str | None = None, flag: str = "--tasks") -> tuple[str, str | None]:
    """The one way tasks are named: `SUITE:split` or `SUITE` with `--split split`; both forms, never two splits."""
    from srl_agent.tasks.suite import split_suite_spec

    suite, in_spec = split_suite_spec(spec)
    if in_spec and split and in_spec != split:
        raise UsageError(f"{flag} {spec} names split {in_spec!r} but --split says {split!r}; give one of them")
    return suite, in_spec or split


def add_split_arg(p: argparse.ArgumentParser, flag: str = "--tasks") -> None:
    p.add_argument("--split", default=None, help=f"only the tasks of this split (train | test); the same as "
                                                 f"{flag} SUITE:split")


# -------------------------------------------------------------------------------------------------- output
THIRD_PARTY = r"(transformers|trl|datasets|accelerate|peft|torch|huggingface_hub|tokenizers|ray)(\.|$)"


_OUTPUT_ENV = ("TRANSFORMERS_VERBOSITY", "DATASETS_VERBOSITY", "HF_HUB_VERBOSITY", "SRL_PROGRESS",
               "HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS", "TRL_EXPERIMENTAL_SILENCE")


def configure_output(verbosity: int):
    """Quiet by default: third-party deprecation warnings, info logs and load/save bars are hidden; `-v` brings
    their warnings back, `-vv` their info logs; `-q` keeps only warnings and errors of srl itself (no progress).
    Environment settings the user made win. Returns the log handler it added (None when one was there)."""
    import logging
    import sys
    import warnings

    level = {0: "error", 1: "warning"}.get(verbosity, "info") if verbosity >= 0 else "error"
    for var in ("TRANSFORMERS_VERBOSITY", "DATASETS_VERBOSITY", "HF_HUB_VERBOSITY"):
        os.environ.setdefault(var, level)
    if verbosity < 0:
        os.environ.setdefault("SRL_PROGRESS", "off")  # -q: no bars and no progress lines either
    if verbosity <= 0:
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
        for category in (FutureWarning, DeprecationWarning, UserWarning):
            warnings.filterwarnings("ignore", category=category, module=THIRD_PARTY)
        warnings.filterwarnings("ignore", category=FutureWarning)  # often attributed to the caller's module
    ours = logging.getLogger("srl_agent")
    ours.setLevel(logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity >= 2 else logging.INFO)
    if ours.handlers:
        return None
    from srl_agent.logs import RankZeroFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(RankZeroFilter())  # under accelerate: one copy of each line, from local rank 0
    ours.addHandler(handler)
    return handler


@contextlib.contextmanager
def output_settings(verbosity: int) -> Iterator[None]:
    """configure_output for the length of one command, undone afterwards (so that `main()` called in-process, as
    the tests and `srl demo` do, leaves the process as it found it)."""
    import logging
    import warnings

    saved = {k: os.environ.get(k) for k in _OUTPUT_ENV}
    ours = logging.getLogger("srl_agent")
    level = ours.level
    with warnings.catch_warnings():
        handler = configure_output(verbosity)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            if handler is not None:
                ours.removeHandler(handler)
            ours.setLevel(level)
