"""The host's end of a container's root supervisor: one `docker exec` whose stdin/stdout carry binary frames.

A frame is `>II` (header length, payload length), a JSON header, raw payload bytes. The exec's streams belong
to root in the container, so nothing the agent runs can read or write them. Every request is sent and answered
under a deadline: the socket is non-blocking and written in chunks, so a supervisor that stops reading cannot
hold the host; replies carry the request id, so a late answer to an abandoned request is never taken for the
answer to a new one.
"""

from __future__ import annotations

import json
import select
import struct
import time

from srl_agent.errors import SandboxError

FRAME = struct.Struct(">II")
MAX_REPLY = 80 << 20  # the largest reply the host accepts (diffs and reads are capped well below)
TOOLS_DIR = "/usr/local/lib/srl-agent"
SUPERVISOR = ["/usr/bin/env", "-i", "/usr/bin/python3", "-I", "-S", f"{TOOLS_DIR}/supervisor.py"]


class ChannelError(SandboxError):
    """The supervisor died, stopped answering in time, or the stream lost its framing: replace it."""


class SupervisorError(SandboxError):
    """The supervisor answered, with an error (a bad path, a failed git call, ...)."""


class Channel:
    def __init__(self, container, hello: dict, timeout: float = 60.0):
        self.container = container
        self.exec_id, self._sock = container.open_exec_socket(SUPERVISOR, user="root", workdir="/")
        self._sock.setblocking(False)
        self._raw = bytearray()  # docker's multiplexed stream, not yet split
        self._buf = bytearray()  # our frames (the exec's stdout)
        self._err = bytearray()  # the supervisor's stderr, kept for error messages
        self._n = 0
        self.broken = False
        try:
            self.info, _ = self.request("hello", hello, timeout=timeout)
        except SandboxError:
            self.close()
            raise

    def request(self, op: str, header: dict | None = None, payload: bytes = b"", *,
                timeout: float) -> tuple[dict, bytes]:
        if self.broken:
            raise ChannelError("the supervisor channel is broken")
        deadline = time.monotonic() + timeout
        self._n += 1
        head = json.dumps({**(header or {}), "op": op, "id": self._n}).encode()
        try:
            self._send(FRAME.pack(len(head), len(payload)) + head + payload, deadline)
            while True:
                frame = self._frame()
                if frame is not None:
                    reply, data = frame
                    if reply.get("id") not in (self._n, None):
                        continue  # the late answer to a request given up on
                    if not reply.get("ok", False):
                        raise SupervisorError(f"{op}: {reply.get('error', 'failed')}")
                    return reply, data
                self._pump(deadline, op)
        except ChannelError:
            self.broken = True
            raise

    def check(self) -> bool:
        """False when the supervisor is known to be gone (its end of the stream is closed), without waiting."""
        if self.broken:
            return False
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
            if readable:
                self._pump(time.monotonic() + 1.0, "check")
        except ChannelError:
            self.broken = True
        return not self.broken

    def _send(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChannelError("the supervisor did not take the request in time")
            try:
                _, writable, _ = select.select([], [self._sock], [], left)
                if writable:
                    view = view[self._sock.send(view[:1 << 16]):]
            except BlockingIOError:
                continue
            except OSError as exc:
                raise ChannelError(f"the supervisor channel closed ({exc})") from None

    def _pump(self, deadline: float, op: str) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ChannelError(f"the supervisor did not answer {op!r} in time")
        readable, _, _ = select.select([self._sock], [], [], left)
        if not readable:
            return
        try:
            chunk = self._sock.recv(1 << 18)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            raise ChannelError(f"the supervisor exited during {op!r}{self._stderr()}")
        self._raw += chunk
        raw = self._raw
        while len(raw) >= 8:
            size = int.from_bytes(raw[4:8], "big")
            if len(raw) < 8 + size:
                break
            (self._buf if raw[0] == 1 else self._err).extend(raw[8:8 + size])
            del raw[:8 + size]
        if len(self._err) > 8192:
            del self._err[:-4096]

    def _frame(self) -> tuple[dict, bytes] | None:
        buf = self._buf
        if len(buf) < FRAME.size:
            return None
        h, p = FRAME.unpack_from(buf)
        if h > 1 << 20 or p > MAX_REPLY:
            raise ChannelError("the supervisor stream lost its framing")
        if len(buf) < FRAME.size + h + p:
            return None
        try:
            reply = json.loads(bytes(buf[FRAME.size:FRAME.size + h]))
        except ValueError:
            raise ChannelError("the supervisor stream lost its framing") from None
        data = bytes(buf[FRAME.size + h:FRAME.size + h + p])
        del buf[:FRAME.size + h + p]
        return reply, data

    def _stderr(self) -> str:
        text = self._err.decode("utf-8", "replace").strip()
        return f": {text[-800:]}" if text else ""

    def close(self) -> None:
        self.broken = True
        try:
            self._sock.close()
        except OSError:
            pass
