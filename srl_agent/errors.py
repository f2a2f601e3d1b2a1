"""The project's one exception root; subclasses also inherit the matching builtin so callers may catch either."""

from __future__ import annotations


class SRLError(Exception):
    """Root of every error srl-agent raises on purpose. Messages say what to do next."""


class ConfigError(SRLError, ValueError):
    """A setting or argument is invalid."""


class InputError(SRLError, ValueError):
    """User-supplied data (a file, a record, a field) is malformed."""


class DockerUnavailableError(SRLError, RuntimeError):
    """No Docker engine answers."""


class ImageBuildError(SRLError, RuntimeError):
    """An image could not be built."""


class SandboxError(SRLError, RuntimeError):
    """A sandbox (container or its session) failed; an infrastructure failure, not a task failure."""


class CommandTimeoutError(SandboxError, TimeoutError):
    """A command ran past its timeout."""


class ModelLoadError(SRLError, OSError):
    """A model or tokenizer could not be loaded."""


class TooLargeError(SandboxError, ValueError):
    """A patch or file is over the size the sandbox hands to the host (the agent's doing, not the
    infrastructure's: a patch that is too large grades as no patch)."""
