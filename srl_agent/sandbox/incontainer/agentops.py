"""The supervisor's work as the agent user: the editor, file reads and writes, and programs run with a given
environment (the grader's apply and test runs), each in a child that dropped to the agent first."""

import json
import os
import signal
import time

import fsutil
import procs
import shell


class AgentOps(object):
    """Mixed into the Supervisor: needs self.ident, self.loop, self.env, self.workdir, self.editor."""

    def _in_child(self, fn, timeout, limit, cwd="/"):
        """fn(fd) in a forked child running as the agent; (exit code or None on timeout, output, truncated)."""
        r, w = os.pipe()
        pid = procs.fork_as(self.ident, fn, w, cwd)
        os.close(w)
        os.set_blocking(r, False)
        self.loop.reaper.watch(pid)
        cap = shell.Capture(limit)
        end = time.monotonic() + timeout
        eof = False
        while True:
            st = self.loop.reaper.status(pid)
            if st is not None and eof:
                break
            if time.monotonic() > end:
                _kill(pid)
                break
            if eof:
                self.loop.wait([], 0.005)
                continue
            if r in self.loop.wait([r], max(0.0, end - time.monotonic())):
                eof = shell.drain(r, cap)
        os.close(r)
        st = self.loop.reaper.status(pid)
        self.loop.reaper.forget(pid)
        out, trunc = cap.result()
        return (None if st is None else procs.exit_code(st)), out, trunc

    def op_editor(self, h, p):
        args = json.loads(p.decode())
        env = self.env

        def child(fd):
            os.environ.clear()
            os.environ.update(env)
            data, code = self.editor.serve(args)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            return code

        code, out, trunc = self._in_child(child, float(h["timeout"]), int(h["limit"]), self.workdir)
        return {"exit": code, "timed_out": code is None, "truncated": trunc}, out

    def op_read(self, h, p):
        """A file's bytes, read as the agent (or as root for the grader's own result files: no links)."""
        path, limit = h["path"], int(h["limit"])
        if h.get("as") == "root":
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as f:
                if not os.path.stat.S_ISREG(os.fstat(fd).st_mode):
                    raise OSError("%s is not a regular file" % path)
                data = f.read(limit + 1)
            if len(data) > limit:
                return {"too_large": True, "size": len(data)}, b""
            return {}, data

        def child(fd):
            try:
                with open(path, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    if size > limit:
                        os.write(fd, b"\x01" + str(size).encode())
                        return 3
                    data = f.read(limit + 1)
            except OSError as exc:
                os.write(fd, str(exc).encode("utf-8", "replace"))
                return 2
            if len(data) > limit:
                os.write(fd, b"\x01" + str(len(data)).encode())
                return 3
            view = memoryview(b"\x00" + data)
            while view:
                view = view[os.write(fd, view):]
            return 0

        code, out, _ = self._in_child(child, 60.0, limit + 64)
        if code == 3:
            return {"too_large": True, "size": int(out[1:] or 0)}, b""
        if code != 0:
            raise OSError(out.decode("utf-8", "replace") or "could not read %s" % path)
        return {}, out[1:]

    def op_write(self, h, p):
        path = h["path"]
        if h.get("as") == "root":  # only into root's own directories (the grader's patch and results)
            parent = os.path.dirname(path)
            if parent != fsutil.PRIVATE:
                raise OSError("root writes only under " + fsutil.PRIVATE)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(p)
            return {}, b""

        def child(fd):
            try:
                parent = os.path.dirname(path)
                if parent:
                    os.makedirs(parent, exist_ok=True)
                with open(path, "wb") as f:
                    f.write(p)
            except OSError as exc:
                os.write(fd, str(exc).encode("utf-8", "replace"))
                return 2
            return 0

        code, out, _ = self._in_child(child, 60.0, 4096)
        if code != 0:
            raise OSError(out.decode("utf-8", "replace") or "could not write %s" % path)
        return {}, b""

    def run_as(self, argv, env, timeout=300.0, cwd=None, limit=1 << 20):
        """A program run as the agent with this environment (no shell state); (exit code, output)."""
        r, w = os.pipe()
        null = os.open("/dev/null", os.O_RDONLY)
        pid = procs.spawn(argv if argv[0].startswith("/") else [_which(argv[0], env)] + argv[1:], env,
                          cwd or self.workdir, self.ident, null, w)
        os.close(w)
        os.close(null)
        os.set_blocking(r, False)
        self.loop.reaper.watch(pid)
        cap = shell.Capture(limit)
        since = procs.boot_ticks()
        end = time.monotonic() + timeout
        eof, st = False, None
        while True:
            st = self.loop.reaper.status(pid)
            if st is not None:
                eof = eof or shell.drain(r, cap)
                break
            if time.monotonic() > end:
                _kill(pid)
                procs.kill_agent(self.ident.uid, self.loop.reaper, since=since - 1, budget=0.5)
                break
            if r in self.loop.wait([] if eof else [r], max(0.0, end - time.monotonic())):
                eof = shell.drain(r, cap)
        os.close(r)
        self.loop.reaper.forget(pid)
        out, _ = cap.result()
        return (None if st is None else procs.exit_code(st)), out

    def op_exec(self, h, p):
        """A command as the agent with the environment given (the grader's apply and test runs)."""
        code, out = self.run_as(list(h["argv"]), dict(h["env"]), float(h["timeout"]), h.get("cwd"), int(h["limit"]))
        killed = 0
        if h.get("kill_after"):
            killed, _ = procs.kill_agent(self.ident.uid, self.loop.reaper, budget=2.0)
        return {"exit": code, "timed_out": code is None, "killed": killed}, out


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:  # already gone (and perhaps reaped)
        pass


def _which(name, env):
    for d in env.get("PATH", procs.ROOT_PATH).split(":"):
        path = os.path.join(d, name)
        if d.startswith("/") and os.access(path, os.X_OK):
            return path
    return "/usr/bin/" + name
