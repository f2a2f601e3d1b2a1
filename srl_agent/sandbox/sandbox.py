"""Sandbox: a container (where) plus a persistent bash session and the agent's tools (what), behind one object."""

from __future__ import annotations

import base64
import json
import threading
import time

from srl_agent.actions import Action
from srl_agent.errors import SandboxError
from srl_agent.sandbox import tools
from srl_agent.sandbox.container import Container, ContainerSpec
from srl_agent.sandbox.observation import Observation
from srl_agent.sandbox.session import DEFAULT_OUTPUT_LIMIT, BashSession

DEFAULT_TIMEOUT = 120.0  # seconds per command unless the caller says otherwise
INTERNAL_TIMEOUT = 300.0  # git checkpoint/reset/diff on a large repository can take a while


class Sandbox:
    """A started container with a persistent shell. Use as a context manager, or call `close()`.

    `user=None` picks `agent` when the image has that user, else root. The work dir is git-checkpointed by
    `checkpoint()`; `reset()` returns files, HEAD, index and the shell to that state; `diff()` is the patch.
    """

    def __init__(self, image: str, *, workdir: str = "/testbed", memory: str = "2g", cpus: float = 1.0,
                 pids_limit: int = 512, network: bool = False, user: str | None = None,
                 output_limit: int = DEFAULT_OUTPUT_LIMIT, default_timeout: float = DEFAULT_TIMEOUT,
                 env: dict[str, str] | None = None, labels: dict[str, str] | None = None):
        if output_limit < 0 or default_timeout <= 0:
            raise SandboxError("output_limit must be >= 0 and default_timeout > 0")
        self.image, self.workdir, self.default_timeout = image, workdir, default_timeout
        spec = ContainerSpec(image=image, memory=memory, cpus=cpus, pids_limit=pids_limit, network=network,
                             labels=dict(labels or {}), env=dict(env or {}))
        self._lock = threading.RLock()
        self._checkpoint: dict | None = None
        self._closed = False
        self.container = Container.start(spec)
        try:
            self.user = user if user is not None else self._default_user()
            self.session = BashSession(self.container, user=self.user, workdir=workdir, output_limit=output_limit)
            self.session.start()
        except BaseException:
            self.container.remove()
            raise

    def _default_user(self) -> str:
        passwd = self.container.read_text("/etc/passwd") or ""
        return "agent" if any(line.startswith("agent:") for line in passwd.splitlines()) else "root"

    # --- lifecycle ------------------------------------------------------------------------------------------
    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Remove the container (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.session.close()
            self.container.remove()

    def is_alive(self) -> bool:
        return not self._closed and self.container.is_alive()

    @property
    def container_id(self) -> str:
        return self.container.id

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("this sandbox is closed; start a new one")

    # --- commands and tools ---------------------------------------------------------------------------------
    def run(self, command: str, timeout: float | None = None) -> Observation:
        """Run a bash command in the persistent session (stdin is /dev/null); never raises for the command's
        own failures: look at `exit_code`, `timed_out`, `restarted`."""
        with self._lock:
            self._check_open()
            return self.session.run(command, self.default_timeout if timeout is None else timeout)

    def execute(self, action: Action, timeout: float | None = None) -> Observation:
        """Run an agent action (bash, str_replace_editor or submit) inside the container."""
        with self._lock:
            self._check_open()
            return tools.execute(self, action, timeout)

    def _tool(self, script: str, *args: str, stdin_json: dict | None = None,
              timeout: float = INTERNAL_TIMEOUT) -> str:
        code, out = self.session.call(tools.tool_command(self.session.python, script, *args, stdin_json=stdin_json),
                                      timeout=timeout)
        if code != 0:
            raise SandboxError(f"{script} {args[:1]} failed in {self.container.id[:12]} (exit {code}): {out[-1000:]}")
        return out

    def write_file(self, path: str, text: str | bytes) -> None:
        """Write a file inside the container as the sandbox user (relative paths are under the work dir)."""
        data = text.encode("utf-8") if isinstance(text, str) else text
        with self._lock:
            self._check_open()
            self._tool("editor.py", stdin_json={"command": "_write", "path": self._abs(path),
                                                "data": base64.b64encode(data).decode("ascii")})

    def read_file(self, path: str) -> str:
        """A file's text from inside the container (undecodable bytes replaced)."""
        with self._lock:
            self._check_open()
            out = self._tool("editor.py", stdin_json={"command": "_read", "path": self._abs(path)})
        return base64.b64decode(out).decode("utf-8", "replace")

    def _abs(self, path: str) -> str:
        return path if path.startswith("/") else f"{self.workdir.rstrip('/')}/{path}"

    # --- checkpoint / reset / diff --------------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Make the current state of the work dir (a git repo; `git init` if it is not one) the start state."""
        with self._lock:
            self._check_open()
            self._checkpoint = json.loads(self._tool("state.py", "checkpoint", self.workdir))

    def _require_checkpoint(self) -> dict:
        if self._checkpoint is None:
            raise SandboxError("no checkpoint: call sb.checkpoint() once the work dir is in its start state")
        return self._checkpoint

    def reset(self) -> float:
        """Back to the checkpoint without a new container: kill the agent's processes, restore files, HEAD and
        index, and replace the shell by a fresh one in the work dir. Returns the seconds it took."""
        start = time.monotonic()
        with self._lock:
            self._check_open()
            state = json.dumps(self._require_checkpoint())
            if not self.session.alive():
                self.session.restart()
            try:
                # Short timeouts: this attempt goes through the agent's shell, which may be broken.
                self._tool("state.py", "reset", self.workdir, state, "--keep", str(self.session.shell_pid),
                           timeout=60)
                self.session.reexec_fresh(timeout=60)
            except SandboxError:
                # The agent may have broken its shell in ways a command cannot undo: start from a new one.
                self.session.restart()
                self._tool("state.py", "reset", self.workdir, state, "--keep", str(self.session.shell_pid))
        return time.monotonic() - start

    def diff(self) -> str:
        """The patch from the checkpoint to the work dir now (new files included; binary files as git binary
        patches; undecodable bytes in text files replaced)."""
        with self._lock:
            self._check_open()
            return self._tool("state.py", "diff", self.workdir, self._require_checkpoint()["commit"])
