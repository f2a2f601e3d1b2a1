"""Every exception class srl_agent defines is under SRLError, so `except SRLError` catches all the project raises."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import srl_agent
from srl_agent.errors import SRLError

# Run inside the task container with the standard library only (they cannot import srl_agent); their errors never
# cross into the host process, which sees the supervisor's JSON replies instead.
IN_CONTAINER = "srl_agent.sandbox.incontainer"


def _modules():
    for info in pkgutil.walk_packages(srl_agent.__path__, "srl_agent."):
        if info.name.startswith(IN_CONTAINER):
            continue
        yield importlib.import_module(info.name)


def test_every_exception_is_under_srlerror():
    """A new `class XError(ValueError)` fails here, named with its module, until it also inherits SRLError."""
    stray = []
    seen = 0
    for module in _modules():
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                seen += 1
                if not issubclass(obj, SRLError):
                    stray.append(f"{module.__name__}.{name} (bases: {[b.__name__ for b in obj.__bases__]})")
    assert seen > 10, f"found only {seen} exception classes: the module walk is broken"
    assert not stray, "exception classes not under srl_agent.errors.SRLError: " + "; ".join(stray)


def test_builtin_bases_kept_for_callers():
    """Callers catch FormatError / ExpertScriptError as ValueError: the builtin stays beside SRLError."""
    from srl_agent.actions import FormatError
    from srl_agent.trajectory.expert_script import ExpertScriptError

    for cls in (FormatError, ExpertScriptError):
        assert issubclass(cls, SRLError) and issubclass(cls, ValueError), cls
