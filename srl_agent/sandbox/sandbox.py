"""Sandbox: the local Docker runtime: a container (where) plus its root supervisor and the agent's tools (what).

`Sandbox(image, ...)` only records the settings; `start()` (or `with Sandbox(...) as sb:`, or
`start_sandbox(image, ...)`) starts the container. Once started it implements `srl_agent.sandbox.runtime.Runtime`.
"""

from __future__ import annotations

import json
import threading
import time

from srl_agent.actions import Action
from srl_agent.errors import SandboxError, TooLargeError
from srl_agent.sandbox import tools
from srl_agent.sandbox.container import Container, ContainerSpec
from srl_agent.sandbox.observation import Observation, ResetResult
from srl_agent.sandbox.runtime import READ_LIMIT
from srl_agent.sandbox.session import DEFAULT_OUTPUT_LIMIT, DiskLimitHit, Session

DEFAULT_TIMEOUT = 120.0  # seconds per command unless the caller says otherwise
INTERNAL_TIMEOUT = 300.0  # checkpoint/reset/diff on a large repository can take a while
PRIVATE = "/var/lib/srl-agent/private"  # root-only in the container (the supervisor's own state)


class Sandbox:
    """A container whose commands run as an unprivileged user. `start()` it (or use `with Sandbox(...) as sb:`,
    which starts on enter and closes on exit); `close()` removes it.

    `user=None` runs as `agent` (created if the image lacks it); the agent's shell is never root. The work dir
    is checkpointed by `checkpoint()`; `reset()` returns the work dir, its .git, the agent's home, /tmp and the
    processes to that state (or recreates the container, and says so); `diff()` is the patch.
    """

    workdir: str
    user: str

    def __init__(self, image: str, *, workdir: str = "/testbed", memory: str = "2g", cpus: float = 1.0,
                 pids_limit: int = 512, network: bool = False, user: str | None = None,
                 output_limit: int = DEFAULT_OUTPUT_LIMIT, default_timeout: float = DEFAULT_TIMEOUT,
                 env: dict[str, str] | None = None, labels: dict[str, str] | None = None,
                 disk: str | None = "2g", tmp_size: str = "1g", runtime: str | None = None):
        if output_limit < 0 or default_timeout <= 0:
            raise SandboxError("output_limit must be >= 0 and default_timeout > 0")
        if user == "root":
            raise SandboxError("the agent's shell is never root: give an unprivileged user (or None for `agent`)")
        self.image, self.workdir, self.default_timeout = image, workdir, default_timeout
        self.spec = ContainerSpec(image=image, memory=memory, cpus=cpus, pids_limit=pids_limit, network=network,
                                  labels=dict(labels or {}), env=dict(env or {}), disk=disk, tmp_size=tmp_size,
                                  runtime=runtime)
        self.user = user or "agent"
        self._create_user = user is None
        self._output_limit = output_limit
        self._lock = threading.RLock()
        self._checkpoint: dict | None = None
        self._touched = False  # changed since the container started from its image (a checkpoint then keeps a copy)
        self._closed = False
        self.container: Container | None = None
        self.session: Session | None = None

    def start(self) -> "Sandbox":
        """Start the container and its supervisor (idempotent); returns self."""
        with self._lock:
            if self._closed:
                raise SandboxError("this sandbox is closed; start a new one")
            if self.container is None:
                self._start()
        return self

    def _start(self) -> None:
        container = Container.start(self.spec)
        self.container = container
        try:
            self.session = Session(self.container, user=self.user, workdir=self.workdir,
                                   output_limit=self._output_limit, create_user=self._create_user)
            self.session.start()
        except BaseException:
            self.container, self.session = None, None
            container.remove()
            raise

    # --- lifecycle ------------------------------------------------------------------------------------------
    def __enter__(self) -> "Sandbox":
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Remove the container (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self.session is not None:
                self.session.close()
            if self.container is not None:
                self.container.remove()

    def is_alive(self) -> bool:
        return not self._closed and self.container is not None and self.container.is_alive()

    @property
    def started(self) -> bool:
        return self.container is not None and not self._closed

    @property
    def container_id(self) -> str:
        if self.container is None:  # still known after close(), for logs and clean-up checks
            self._check_open()
        return self.container.id

    @property
    def home(self) -> str:
        """The agent user's home directory (as the supervisor found or made it)."""
        self._check_open()
        return str(self.session.info.get("home") or "/tmp")

    def image_env(self) -> dict[str, str]:
        """The image's own environment variables (what `docker run` would set), for the grader's test runs."""
        self._check_open()
        return dict(kv.split("=", 1) for kv in self.container.image_env() if "=" in kv)

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("this sandbox is closed; start a new one")
        if self.container is None:
            raise SandboxError("this sandbox is not started: call sb.start(), use `with Sandbox(...) as sb:`, "
                               "or start_sandbox(image, ...)")

    def _call(self, op: str, header: dict | None = None, payload: bytes = b"", *,
              timeout: float = INTERNAL_TIMEOUT) -> tuple[dict, bytes]:
        self._check_open()
        return self.session.call(op, header, payload, timeout=timeout)

    # --- commands and tools ---------------------------------------------------------------------------------
    def run(self, command: str, timeout: float | None = None) -> Observation:
        """Run a bash command as the agent (stdin is /dev/null; cwd, variables and functions carry over from
        the previous command); never raises for the command's own failures: look at `exit_code`,
        `timed_out`, `restarted`."""
        with self._lock:
            self._check_open()
            self._touched = True
            try:
                return self.session.run(command, self.default_timeout if timeout is None else timeout)
            except DiskLimitHit as hit:
                self._recreate(str(hit))
                return Observation(f"[{hit}; a new container was started at the start state: every change since "
                                   "then is gone]", None, restarted=True)

    def execute(self, action: Action, timeout: float | None = None) -> Observation:
        """Run an agent action (bash, str_replace_editor or submit) inside the container."""
        with self._lock:
            self._check_open()
            return tools.execute(self, action, timeout)

    def editor(self, args: dict, timeout: float | None = None) -> Observation:
        """One str_replace_editor call, run as the agent by the supervisor (not through the agent's shell)."""
        t0 = time.monotonic()
        with self._lock:
            self._touched = True
            reply, out = self._call("editor", {"timeout": self.default_timeout if timeout is None else timeout,
                                               "limit": self._output_limit},
                                    json.dumps(args, ensure_ascii=True).encode())
        text = out.decode("utf-8", "replace")
        if reply.get("timed_out"):
            text += "\n[the editor timed out and was killed]"
        return Observation(text, reply.get("exit"), timed_out=bool(reply.get("timed_out")),
                           truncated=bool(reply.get("truncated")), duration=time.monotonic() - t0)

    def write_file(self, path: str, text: str | bytes) -> None:
        """Write a file inside the container as the sandbox user (relative paths are under the work dir)."""
        data = text.encode("utf-8") if isinstance(text, str) else text
        with self._lock:
            self._touched = True
            self._call("write", {"path": self._abs(path)}, data)

    def read_file(self, path: str, limit: int = READ_LIMIT) -> str:
        """A file's text from inside the container, read as the sandbox user (undecodable bytes replaced);
        TooLargeError past `limit` bytes."""
        with self._lock:
            reply, data = self._call("read", {"path": self._abs(path), "limit": limit})
        if reply.get("too_large"):
            raise TooLargeError(f"{path} is {reply.get('size', 0) / 2 ** 20:.1f} MiB, over the "
                                f"{limit / 2 ** 20:.0f} MiB the sandbox reads; look at it in parts (head, sed -n)")
        return data.decode("utf-8", "replace")

    def _abs(self, path: str) -> str:
        return path if path.startswith("/") else f"{self.workdir.rstrip('/')}/{path}"

    # --- checkpoint / reset / diff --------------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Make the current state of the work dir (a git repo; `git init` if it is not one), its .git, the
        agent's home and /tmp the start state."""
        with self._lock:
            reply, _ = self._call("checkpoint", {"keep_copy": self._touched})
            self._checkpoint = dict(reply, after_changes=self._touched)

    def _require_checkpoint(self) -> dict:
        if self._checkpoint is None:
            raise SandboxError("no checkpoint: call sb.checkpoint() once the work dir is in its start state")
        return self._checkpoint

    def reset(self) -> ResetResult:
        """Back to the checkpoint: every process of the agent killed; work dir, .git (config and hooks
        included), home, /tmp, /var/tmp, /dev/shm and the shell state restored, as root, without reading
        anything the agent could configure. When that state cannot be proven the container is recreated and
        the result says so."""
        start = time.monotonic()
        with self._lock:
            self._check_open()
            self._require_checkpoint()
            try:
                reply, _ = self.session.call("reset", timeout=INTERNAL_TIMEOUT)
                if reply.get("restored"):
                    return ResetResult(time.monotonic() - start)
                reason = str(reply.get("reason") or "reset failed")
            except SandboxError as exc:
                reason = f"the supervisor failed during reset: {exc}"
            self._recreate(reason)
        return ResetResult(time.monotonic() - start, recreated=True, reason=reason)

    def _recreate(self, reason: str) -> None:
        """A new container of the same image, brought to the checkpoint (the copy the old container's supervisor
        kept, when the checkpoint was taken after changes to the image's own state)."""
        bundle = None
        ck = self._checkpoint
        if ck is not None and ck.get("after_changes"):
            if not ck.get("start_copy"):
                raise SandboxError(f"reset could not restore the start state ({reason}) and no copy of it was kept "
                                   "(over 256 MiB): start a new sandbox")
            bundle = self.container.get_file(f"{PRIVATE}/start.tar", 1 << 30)
            if bundle is None:
                raise SandboxError(f"reset could not restore the start state ({reason}) and its copy is gone")
        self.session.close()
        self.container.remove()
        try:
            self._start()
        except BaseException:
            self._closed = True  # nothing is left to use: later calls say so instead of "not started"
            raise
        if bundle is not None:
            self.container.put_files(PRIVATE, {"start.tar": bundle}, mode=0o600, dir_mode=0o700)
            self._call("restore_start")
        if ck is not None:
            reply, _ = self._call("checkpoint", {"keep_copy": bundle is not None})
            self._checkpoint = dict(reply, after_changes=bundle is not None)
        self._touched = bundle is not None

    def diff(self, limit: int = READ_LIMIT) -> str:
        """The patch from the checkpoint to the work dir now (new files included; binary files as git binary
        patches; undecodable bytes in text files replaced); TooLargeError past `limit` bytes."""
        with self._lock:
            self._require_checkpoint()
            reply, data = self._call("diff", {"limit": limit})
        if reply.get("too_large"):
            raise TooLargeError(f"the patch is over {limit / 2 ** 20:.0f} MiB (the changed files hold "
                                f"{reply.get('size', 0) / 2 ** 20:.1f} MiB): remove large generated files")
        return data.decode("utf-8", "replace")

    # --- for the grader (a never-used container) -----------------------------------------------------------
    def exec_agent(self, argv: list[str], env: dict[str, str], *, timeout: float, limit: int = 8 << 20,
                   cwd: str | None = None) -> tuple[int | None, str]:
        """argv run as the sandbox user with exactly `env` (no shell state), then every process of that user
        killed; (exit code or None on timeout, capped output)."""
        with self._lock:
            reply, out = self._call("exec", {"argv": argv, "env": env, "timeout": timeout, "limit": limit,
                                             "cwd": cwd or self.workdir, "kill_after": True}, timeout=timeout + 30)
        return reply.get("exit"), out.decode("utf-8", "replace")

    def write_private(self, name: str, data: bytes) -> str:
        """A file in the supervisor's root-only directory (the grader's patch); returns its path."""
        path = f"{PRIVATE}/{name}"
        with self._lock:
            self._call("write", {"path": path, "as": "root"}, data)
        return path

    def results_dir(self, name: str) -> str:
        """A fresh, empty directory outside the work dir that only the sandbox user can write (the grader's
        junit XML goes there, created right before the test run)."""
        with self._lock:
            reply, _ = self._call("results_dir", {"name": name})
        return reply["path"]

    def read_private(self, path: str, limit: int = 32 << 20) -> bytes | None:
        """A regular file read by root without following links (the grader's results), or None if missing."""
        with self._lock:
            try:
                reply, data = self._call("read", {"path": path, "limit": limit, "as": "root"})
            except SandboxError as exc:
                if "No such file" in str(exc):
                    return None
                raise
        if reply.get("too_large"):
            raise TooLargeError(f"{path} is over {limit >> 20} MiB")
        return data

    def changed_paths(self) -> list[tuple[str, str]]:
        """(status letter A/M/D/T, path) of every change since the checkpoint."""
        with self._lock:
            reply, _ = self._call("changed")
        return [(s, p) for s, p in reply["changes"]]

    def restore_paths(self, paths: list[str]) -> None:
        """Put these work-dir paths back as they were at the checkpoint (removed if they did not exist)."""
        if paths:
            with self._lock:
                self._call("restore", {"paths": list(paths)})


def start_sandbox(image: str, **sandbox_kwargs) -> Sandbox:
    """A started `Sandbox(image, **sandbox_kwargs)` that the caller closes (the one-liner for `.start()`)."""
    return Sandbox(image, **sandbox_kwargs).start()
