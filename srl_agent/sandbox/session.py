"""What runs: the agent's commands, through the container's root supervisor, under deadlines, with recovery.

The host never parses text the agent's processes print to find where a command ends: it sends one framed
request on the supervisor's channel and gets one framed reply (output, the exit code from the kernel's wait
status, timed_out). The supervisor enforces the timeout itself; the host gives it half a second more, and a
supervisor that is dead, hung or out of step is replaced by a new one, so a call returns within its timeout
plus about a second whatever the agent did.
"""

from __future__ import annotations

import re
import time

from srl_agent.errors import SandboxError
from srl_agent.sandbox.channel import Channel, ChannelError
from srl_agent.sandbox.container import Container
from srl_agent.sandbox.observation import Observation

DEFAULT_OUTPUT_LIMIT = 100_000  # bytes kept per command (head and tail halves)
MAX_COMMAND = 1 << 20  # bytes in one command; larger files go through the editor or in parts
GRACE = 0.5  # seconds the host waits for a reply past the command's own timeout
_SPECIAL = re.compile(r"[\\'\x00-\x1f\x7f]")
_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\0": ""}


def bash_quote(text: str) -> str:
    """`$'...'` quoting that survives any text (NUL bytes dropped: bash strings cannot hold them)."""
    return "$'" + _SPECIAL.sub(lambda m: _ESCAPES.get(m.group(), "\\x%02x" % ord(m.group())), text) + "'"


class DiskLimitHit(SandboxError):
    """The disk watchdog stopped the container (the agent wrote past its disk limit)."""


class Session:
    """The supervisor channel of one container and the agent user it runs commands as."""

    def __init__(self, container: Container, *, user: str, workdir: str, output_limit: int = DEFAULT_OUTPUT_LIMIT,
                 create_user: bool = False):
        self.container, self.user, self.workdir, self.output_limit = container, user, workdir, output_limit
        self.create_user = create_user
        self.channel: Channel | None = None
        self.info: dict = {}

    def _hello(self) -> dict:
        env = dict(kv.split("=", 1) for kv in self.container.image_env() if "=" in kv)
        return {"user": self.user, "workdir": self.workdir, "env": env, "create_user": self.create_user}

    def start(self, timeout: float = 60.0) -> None:
        try:
            self.channel = Channel(self.container, self._hello(), timeout=timeout)
        except ChannelError as exc:
            raise SandboxError(f"the sandbox supervisor in {self.container.id[:12]} did not start (the image needs "
                               f"/usr/bin/python3 and bash): {exc}") from None
        self.info = self.channel.info

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
        self.channel = None

    def alive(self) -> bool:
        return self.channel is not None and self.channel.check()

    def replace(self) -> None:
        """A new supervisor (it kills the old one and every process of the agent)."""
        self.close()
        self._check_container()
        self.start(timeout=30.0)

    def _check_container(self) -> None:
        from srl_agent.sandbox.watchdog import limit_hit

        hit = limit_hit(self.container.id)
        if hit:
            raise DiskLimitHit(hit)
        if not self.container.is_alive():
            raise SandboxError(f"the container {self.container.id[:12]} is not running any more")

    def call(self, op: str, header: dict | None = None, payload: bytes = b"", *,
             timeout: float) -> tuple[dict, bytes]:
        """One of the sandbox's own requests; a broken channel is replaced and the call fails (SandboxError)."""
        if not self.alive():
            self.replace()
        try:
            return self.channel.request(op, header, payload, timeout=timeout)
        except ChannelError as exc:
            self.close()
            self._check_container()
            raise SandboxError(f"{op} failed in {self.container.id[:12]}: {exc}") from None

    def run(self, command: str, timeout: float, *, output_limit: int | None = None) -> Observation:
        start = time.monotonic()
        data = command.replace("\0", "").encode("utf-8", "surrogateescape")
        if len(data) > MAX_COMMAND:
            return Observation(f"[command not run: it is {len(data) / 2 ** 20:.1f} MiB, over the "
                               f"{MAX_COMMAND >> 20} MiB limit for one command; write large files with the "
                               "editor's `create`, or in parts]", None, duration=time.monotonic() - start)
        notes, restarted = [], False
        if not self.alive():
            self.replace()
            restarted = True
            notes.append("[the shell session had died and was restarted before this command: cwd and variables "
                         "are reset]")
        limit = self.output_limit if output_limit is None else output_limit
        try:
            reply, out = self.channel.request("run", {"timeout": timeout, "limit": limit}, data,
                                              timeout=timeout + GRACE)
        except ChannelError as exc:
            elapsed = time.monotonic() - start
            self.replace()
            return Observation(f"[the command channel failed ({exc}); a new shell session was started in "
                               f"{self.workdir}: cwd, variables and background jobs are reset]", None,
                               timed_out=elapsed >= timeout, duration=time.monotonic() - start, restarted=True)
        output = out.decode("utf-8", "replace")
        notes = list(reply.get("notes") or []) + notes
        if notes:
            output += ("\n" if output and not output.endswith("\n") else "") + "\n".join(notes)
        return Observation(output=output, exit_code=reply.get("exit"), timed_out=bool(reply.get("timed_out")),
                           truncated=bool(reply.get("truncated")), duration=time.monotonic() - start,
                           restarted=restarted)
