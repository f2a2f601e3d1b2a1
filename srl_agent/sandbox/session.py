"""What runs: a persistent bash session inside a container, with sentinel-delimited commands, real timeouts
(the command's processes are killed inside the container), capped output and automatic recovery."""

from __future__ import annotations

import re
import secrets
import select
import socket
import time

from srl_agent.errors import SandboxError
from srl_agent.sandbox.container import TOOLS_DIR, Container
from srl_agent.sandbox.observation import Observation

DEFAULT_OUTPUT_LIMIT = 100_000  # bytes kept per command (head and tail halves)
GRACE = 1.5  # seconds to wait for the shell after killing a timed-out command, before restarting it
_HOLDBACK = 160  # bytes held back from the capture so a sentinel split across reads is still found
_SPECIAL = re.compile(r"[\\'\x00-\x1f\x7f]")
_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\0": ""}
TOOL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def bash_quote(text: str) -> str:
    """`$'...'` quoting that survives any text (NUL bytes dropped: bash strings cannot hold them)."""
    return "$'" + _SPECIAL.sub(lambda m: _ESCAPES.get(m.group(), "\\x%02x" % ord(m.group())), text) + "'"


class _Capture:
    """Keeps the first and last `limit // 2` bytes of a stream and counts what it drops in between."""

    def __init__(self, limit: int):
        self.head_max = max(limit // 2, 0)
        self.tail_max = max(limit - self.head_max, 0)
        self.head, self.tail = bytearray(), bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> None:
        room = self.head_max - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail += data
        excess = len(self.tail) - self.tail_max
        if excess > 65536:  # trim in batches: deleting from a bytearray's front on every read is quadratic
            del self.tail[:excess]
            self.dropped += excess

    def result(self) -> tuple[str, bool]:
        excess = len(self.tail) - self.tail_max
        if excess > 0:
            del self.tail[:excess]
            self.dropped += excess
        head = self.head.decode("utf-8", "replace")
        tail = self.tail.decode("utf-8", "replace")
        if not self.dropped:
            return head + tail, False
        return f"{head}\n[... {self.dropped} bytes of output omitted ...]\n{tail}", True


class BashSession:
    """One long-lived `bash` in the container, driven through the exec's attached socket (no exec per command).

    Each command is sent as one line: the text is assigned with `$'...'` quoting and `eval`ed with stdin from
    /dev/null, then a sentinel carrying this session's random token, the command number and `$?` is printed.
    State (cwd, variables, functions) therefore lives on between commands, a syntax error cannot swallow the
    next line, and a background job that keeps stdout open cannot delay the return.
    """

    def __init__(self, container: Container, *, user: str, workdir: str, output_limit: int = DEFAULT_OUTPUT_LIMIT):
        self.container, self.user, self.workdir, self.output_limit = container, user, workdir, output_limit
        self.shell_pid = 0
        self.python = "python3"
        self._sock: socket.socket | None = None
        self._exec_id = ""
        self._raw = bytearray()  # undecoded multiplexed frames
        self._leftover = b""  # output that arrived after the last sentinel (background jobs)
        self._eof = False
        self._token = secrets.token_hex(6)
        self._n = 0
        self._env0: dict[str, str] = {}

    # --- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._exec_id, self._sock = self.container.open_exec_socket(["bash", "--noprofile", "--norc"],
                                                                    user=self.user)
        self._raw.clear()
        self._leftover, self._eof = b"", False
        self._send(self._setup_line())
        code, out = self.call("printf '%s\\n' $$ \"$(command -v python3)\"; env -0", timeout=30, recover=False)
        lines = out.split("\n", 2)
        if code != 0 or len(lines) < 3 or not lines[0].isdigit():
            raise SandboxError(f"the bash session in {self.container.id[:12]} did not start: {out[-500:]!r}")
        self.shell_pid = int(lines[0])
        self.python = lines[1] or "python3"
        self._env0 = dict(kv.split("=", 1) for kv in lines[2].split("\0") if "=" in kv)

    def _setup_line(self) -> str:
        # Sentinels go to a private copy of the socket's fd, so `exec >/dev/null` by the agent cannot hide them;
        # the EXIT trap reports `exit` at once (a background job holding stdout would delay the EOF by seconds).
        wd = bash_quote(self.workdir)
        return (f"exec {{__srl_fd}}>&1 2>&1; unset HISTFILE; export PAGER=cat GIT_PAGER=cat MANPAGER=cat; "
                f"trap 'printf \"\\n__SRL_{self._token}_EXIT__ %s\\n\" $? >&$__srl_fd' EXIT; "
                f"cd -- {wd} 2>/dev/null || {{ mkdir -p -- {wd} 2>/dev/null && cd -- {wd}; }} || cd /\n")

    def alive(self) -> bool:
        """False when the shell has exited or been killed (its socket is at EOF)."""
        if self._sock is None or self._eof:
            return False
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
            if readable:
                self._leftover += self._pump(0)
        except OSError:
            self._eof = True
        return not self._eof

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.sendall(b"exit 0\n")
            except OSError:
                pass
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None

    def restart(self) -> None:
        """Kill every process of the container's work (not its init) and open a fresh shell."""
        self.close()
        self.kill_strays(since=None)
        self.start()

    def kill_strays(self, since: float | None, keep_shell: bool = False) -> None:
        """Kill processes inside the container (those started since the Unix time `since`, or all but the
        init); a fork bomb can make exec itself fail for a moment, so retry and finally restart the container."""
        cmd = [self.python, f"{TOOLS_DIR}/state.py", "kill", "--keep", str(self.shell_pid) if keep_shell else ""]
        if since is not None:  # a Unix time: the container shares this host's clock
            cmd += ["--since", f"{since:.3f}"]
        for _ in range(5):
            try:
                code, _ = self.container.exec(cmd, user="root")
                if code == 0:
                    return
            except SandboxError:
                pass
            time.sleep(0.2)
        self.container.restart()

    # --- commands -------------------------------------------------------------------------------------------
    def run(self, command: str, timeout: float, *, output_limit: int | None = None) -> Observation:
        start, wall_start = time.monotonic(), time.time()
        restarted = False
        notes = []
        if not self.alive():
            self.restart()
            restarted = True
            notes.append("[the shell session had died and was restarted before this command]")
        n = self._send_command(command)
        cap = _Capture(self.output_limit if output_limit is None else output_limit)
        status, code = self._collect(cap, n, start + timeout)
        timed_out = status == "timeout"
        if timed_out:
            self.kill_strays(since=wall_start - 0.05, keep_shell=True)
            status, code = self._collect(cap, n, time.monotonic() + GRACE)
            code = None
            notes.append(f"[command timed out after {timeout:g} seconds and was killed]")
        if status == "eof":
            code = code if code is not None else self.container.exec_exit_code(self._exec_id)
            self.restart()
            restarted = True
            notes.append(f"[the shell exited; a new session was started in {self.workdir}: cwd, variables and "
                         "background jobs are reset]")
        elif status == "timeout":
            self.restart()
            restarted = True
            notes.append(f"[the shell did not recover; a new session was started in {self.workdir}]")
        output, truncated = cap.result()
        if notes:
            output = (output + ("\n" if output and not output.endswith("\n") else "") + "\n".join(notes))
        return Observation(output=output, exit_code=code, timed_out=timed_out, truncated=truncated,
                           duration=time.monotonic() - start, restarted=restarted)

    def call(self, command: str, timeout: float, output_limit: int = 1 << 30, *,
             recover: bool = True) -> tuple[int, str]:
        """A command of the sandbox's own (tools, git state): uncapped output; failures raise SandboxError
        (after restarting the session when `recover`)."""
        n = self._send_command(command)
        cap = _Capture(output_limit)
        status, code = self._collect(cap, n, time.monotonic() + timeout)
        if status != "done" and not recover:
            raise SandboxError(f"the bash session in {self.container.id[:12]} ({self.user}) did not start: the image "
                               f"needs bash and the user must exist; output: {cap.result()[0][-500:]!r}")
        if status != "done":
            self.restart()
            raise SandboxError(f"internal sandbox command {'timed out' if status == 'timeout' else 'killed the shell'}"
                               f" (the session was restarted): {command[:200]!r}")
        return code, cap.result()[0]

    def reexec_fresh(self, timeout: float = 60.0) -> None:
        """Replace the shell in place by a fresh one (initial environment, work dir; same exec, no new process)."""
        env = " ".join(bash_quote(f"{k}={v}") for k, v in self._env0.items())
        self._send(f"exec /usr/bin/env -i {env} bash --noprofile --norc >&$__srl_fd 2>&1 {{__srl_fd}}>&-\n")
        self._send(self._setup_line())
        self.call("true", timeout=timeout)

    def _send_command(self, command: str) -> int:
        self._n += 1
        self._send(f"__srl_c={bash_quote(command + chr(10))}; eval \"$__srl_c\" < /dev/null {{__srl_fd}}>&-; "
                   f"printf '\\n__SRL_{self._token}_%s__ %s\\n' {self._n} $? >&$__srl_fd\n")
        return self._n

    def _send(self, line: str) -> None:
        if self._sock is None:
            raise SandboxError("the session is closed")
        try:
            self._sock.sendall(line.encode("utf-8", "replace"))
        except OSError:
            self._eof = True

    def _collect(self, cap: _Capture, n: int, deadline: float) -> tuple[str, int | None]:
        """Read until command n's sentinel ("done", exit code), the deadline ("timeout") or EOF ("eof")."""
        marker = re.compile(rb"\n__SRL_" + self._token.encode() + rb"_(" + str(n).encode() + rb"|EXIT)__ (\d+)\n")
        pending, self._leftover = self._leftover, b""
        while True:
            m = marker.search(pending)
            if m:
                cap.feed(pending[:m.start()])
                if m.group(1) == b"EXIT":
                    self._eof = True
                    return "eof", int(m.group(2))
                self._leftover = pending[m.end():]
                return "done", int(m.group(2))
            if len(pending) > _HOLDBACK:
                cap.feed(pending[:-_HOLDBACK])
                pending = pending[-_HOLDBACK:]
            if self._eof:
                cap.feed(pending)
                return "eof", None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._leftover = pending  # the sentinel may still come (after the kill)
                return "timeout", None
            pending += self._pump(remaining)

    def _pump(self, timeout: float) -> bytes:
        """Wait up to `timeout` for data on the socket; return the demultiplexed payload (stdout and stderr)."""
        assert self._sock is not None
        readable, _, _ = select.select([self._sock], [], [], timeout)
        if readable:
            try:
                chunk = self._sock.recv(1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                self._eof = True
            self._raw += chunk
        out = bytearray()
        raw = self._raw
        while len(raw) >= 8:
            size = int.from_bytes(raw[4:8], "big")
            if len(raw) < 8 + size:
                break
            out += raw[8:8 + size]
            del raw[:8 + size]
        return bytes(out)
