"""The project's one exception root; subclasses also inherit the matching builtin so callers may catch either."""

from __future__ import annotations


class SRLError(Exception):
    """Root of every error srl-agent raises on purpose. Messages say what to do next."""


class UsageError(SRLError, ValueError):
    """The command as typed cannot work: a bad flag value, a missing or unreadable input the user named, an
    output path that cannot be written. `srl` exits 2 on these (argparse's code for usage errors), 1 on the rest."""


class ConfigError(UsageError):
    """A setting or argument is invalid."""


class InputError(UsageError):
    """User-supplied data (a file, a record, a field) is malformed."""


class NetworkError(SRLError, ConnectionError):
    """A remote service (the Hugging Face Hub) cannot be reached and nothing cached stands in for it."""


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
