"""FakeRuntime: an in-memory `Runtime` for testing policies, tools and agent loops without Docker.

Files live in a dict; `bash` commands are not run but answered from a script (a dict of exact commands, a
callable, a default), and every command is recorded. The editor is the sandbox's own (`incontainer/editor.py`,
run on the in-memory files, so its messages are the real ones); `submit` and `diff()` give a `git diff`-style
unified patch of what changed since the checkpoint; `reset()` goes back to it. Nothing runs anywhere.
"""

from __future__ import annotations

import difflib
import posixpath
from collections.abc import Callable, Mapping

from srl_agent.actions import Action
from srl_agent.errors import SandboxError, TooLargeError
from srl_agent.sandbox import tools
from srl_agent.sandbox.incontainer import editor as _editor
from srl_agent.sandbox.observation import Observation, ResetResult
from srl_agent.sandbox.runtime import READ_LIMIT

Reply = Observation | str  # a str is the output of a command that exited 0
Script = Mapping[str, Reply] | Callable[[str], Reply | None]


class _MemFiles:
    """The editor's files object over the fake's dict (directories are implied by the paths under them). It
    looks the dict up on the runtime each time, so a test may replace `fake.files` outright."""

    def __init__(self, runtime: "FakeRuntime") -> None:
        self._runtime = runtime
        self.history: dict[str, list[str]] = {}

    @property
    def files(self) -> dict[str, str]:
        return self._runtime.files

    def read(self, path: str) -> str:
        return self.files[path]

    def write(self, path: str, text: str) -> None:
        self.files[path] = text

    def exists(self, path: str) -> bool:
        return path in self.files or self.isdir(path)

    def isdir(self, path: str) -> bool:
        prefix = path.rstrip("/") + "/"
        return any(p.startswith(prefix) for p in self.files)

    def makedirs(self, path: str) -> None:
        pass  # a directory exists once a file is under it

    def listing(self, path: str) -> list[str]:
        root = path.rstrip("/") or "/"
        found = {root}
        for p in self.files:
            rel = posixpath.relpath(p, root)
            parts = rel.split("/")
            if rel.startswith("..") or any(part.startswith(".") for part in parts):
                continue  # outside, or hidden (find's `-not -path '*/.*'`)
            for depth in range(1, min(len(parts), 2) + 1):
                found.add(posixpath.join(root, *parts[:depth]))
        return sorted(found)

    def push_history(self, path: str, old: str) -> None:
        self.history.setdefault(path, []).append(old)

    def pop_history(self, path: str) -> str | None:
        hist = self.history.get(path)
        return hist.pop() if hist else None


class FakeRuntime:
    """A `Runtime` in memory. `files`: the start files (relative paths are under `workdir`); `script`: a dict
    from an exact command to its reply, or a callable command -> reply (None: the default); `default`: the reply
    to any other command. A reply is an `Observation`, or a str (output, exit code 0).

    `commands` records every bash command run (through `run` or `execute`), `actions` every action executed;
    both survive `reset()`. A script callable may change `fake.files` to simulate a command's effect.
    """

    workdir: str
    user: str
    image = "fake"
    container_id = "fake"

    def __init__(self, files: Mapping[str, str] | None = None, *, script: Script | None = None,
                 default: Reply = Observation("", 0), workdir: str = "/testbed", user: str = "agent",
                 home: str = "/home/agent") -> None:
        self.workdir, self.user, self._home = workdir.rstrip("/") or "/", user, home
        self.files: dict[str, str] = {self._abs(p): t for p, t in (files or {}).items()}
        self.script, self.default = script, default
        self.commands: list[str] = []
        self.actions: list[Action] = []
        self._fs = _MemFiles(self)
        self._checkpoint = dict(self.files)
        self._closed = False

    # --- deployment: nothing to start; the same calls as a Sandbox so it can stand in for one ---------------
    def start(self) -> "FakeRuntime":
        self._check_open()
        return self

    def __enter__(self) -> "FakeRuntime":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def home(self) -> str:
        return self._home

    def is_alive(self) -> bool:
        return not self._closed

    def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("this sandbox is closed; start a new one")

    def _abs(self, path: str) -> str:
        return posixpath.normpath(path if path.startswith("/") else posixpath.join(self.workdir, path))

    # --- commands and tools ---------------------------------------------------------------------------------
    def run(self, command: str, timeout: float | None = None) -> Observation:
        self._check_open()
        self.commands.append(command)
        reply = None
        if callable(self.script):
            reply = self.script(command)
        elif self.script is not None:
            reply = self.script.get(command)
        reply = self.default if reply is None else reply
        return Observation(reply, 0) if isinstance(reply, str) else reply

    def execute(self, action: Action, timeout: float | None = None) -> Observation:
        self._check_open()
        self.actions.append(action)
        return tools.execute(self, action, timeout)

    def editor(self, args: dict, timeout: float | None = None) -> Observation:
        """One str_replace_editor call on the in-memory files (the sandbox's editor, the same messages)."""
        self._check_open()
        data, code = _editor.serve(dict(args), self._fs)
        return Observation(data.decode("utf-8", "replace"), code)

    def read_file(self, path: str, limit: int = READ_LIMIT) -> str:
        self._check_open()
        text = self.files.get(self._abs(path))
        if text is None:
            raise SandboxError(f"read {path} failed: No such file or directory")
        if len(text.encode("utf-8", "surrogateescape")) > limit:
            raise TooLargeError(f"{path} is over the {limit} bytes the sandbox reads; look at it in parts")
        return _clean(text)

    def write_file(self, path: str, text: str | bytes) -> None:
        self._check_open()
        self.files[self._abs(path)] = text.decode("utf-8", "surrogateescape") if isinstance(text, bytes) else text

    # --- checkpoint / reset / diff --------------------------------------------------------------------------
    def checkpoint(self) -> None:
        self._check_open()
        self._checkpoint = dict(self.files)

    def reset(self) -> ResetResult:
        self._check_open()
        self.files = dict(self._checkpoint)
        self._fs.history.clear()  # as the sandbox's reset clears the editor's history in /tmp
        return ResetResult(0.0)

    def diff(self, limit: int = READ_LIMIT) -> str:
        self._check_open()
        patch = "".join(self._file_diff(p) for p in sorted(set(self._checkpoint) | set(self.files))
                        if self._in_workdir(p) and self._checkpoint.get(p) != self.files.get(p))
        if len(patch.encode("utf-8", "surrogateescape")) > limit:
            raise TooLargeError(f"the patch is over {limit} bytes: remove large generated files")
        return _clean(patch)

    def _in_workdir(self, path: str) -> bool:
        return self.workdir == "/" or path.startswith(self.workdir + "/")

    def _file_diff(self, path: str) -> str:
        """One file's change in `git diff` form: new and deleted files against /dev/null."""
        rel = posixpath.relpath(path, self.workdir)
        old, new = self._checkpoint.get(path), self.files.get(path)
        head = f"diff --git a/{rel} b/{rel}\n"
        if old is None:
            head += "new file mode 100644\n"
        elif new is None:
            head += "deleted file mode 100644\n"
        body = difflib.unified_diff(_lines(old), _lines(new), "/dev/null" if old is None else f"a/{rel}",
                                    "/dev/null" if new is None else f"b/{rel}")
        return head + "".join(body)


def _clean(text: str) -> str:
    """Undecodable bytes (kept as surrogates in the files) replaced, as the sandbox hands text to the host."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _lines(text: str | None) -> list[str]:
    """Lines with their "\\n" ends (only "\\n" ends a line, as in git); a last line without one is marked as git
    marks it."""
    if not text:
        return []
    lines = [line + "\n" for line in text.split("\n")]
    if text.endswith("\n"):
        return lines[:-1]
    lines[-1] += "\\ No newline at end of file\n"
    return lines
