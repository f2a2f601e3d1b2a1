"""The root supervisor of a sandbox container: the only thing the host talks to.

Started by the host as `docker exec -u root -w / CONTAINER /usr/bin/env -i /usr/bin/python3 -I -S supervisor.py`
from a root-owned 0755 directory: no environment, no user site, no cwd or script dir on sys.path beyond this
directory. It speaks a length-prefixed binary protocol on its stdin/stdout, which belong to root: no process of
the agent can read or write them. Each frame is `>II` (header length, payload length), a JSON header, raw bytes.
The agent's commands run as the agent user, one bash per command (shell.py); checkpoint, reset and diff run as
root on a shadow git dir (gitstate.py); files and the editor are handled in forked children that dropped to the
agent user first. Stdlib only, Python 3.6+.
"""

import json
import os
import select
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gitstate  # noqa: E402
import procs  # noqa: E402
import shell  # noqa: E402

FRAME = struct.Struct(">II")
MAX_FRAME = 256 << 20
SELF = os.path.abspath(__file__)


class HostGone(Exception):
    pass


class Loop(object):
    """stdin (the host), the SIGCHLD wake-up pipe and pipes kept open by background jobs, in one poll."""

    def __init__(self):
        self.reaper = procs.Reaper()
        self.inbuf = bytearray()
        self.eof = False
        self.drains = {}
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(wake_w, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        try:
            signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        except TypeError:  # Python < 3.7
            signal.set_wakeup_fd(wake_w)

    def wait(self, fds, timeout):
        """Serve the loop's own descriptors until one of `fds` is readable or `timeout` passes."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            watch = list(fds) + [self.wake_r] + list(self.drains) + ([] if self.eof else [0])
            left = None if end is None else max(0.0, end - time.monotonic())
            try:
                ready, _, _ = select.select(watch, [], [], left)
            except InterruptedError:
                continue
            out = set()
            woke = False
            for fd in ready:
                if fd == self.wake_r:
                    woke = True
                    try:
                        while os.read(self.wake_r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                    self.reaper.reap()
                elif fd == 0:
                    data = os.read(0, 1 << 20)
                    if data:
                        self.inbuf += data
                    else:
                        self.eof = True
                elif fd in self.drains:
                    self.drains[fd]()
                else:
                    out.add(fd)
            self.reaper.reap()
            if out or woke or (end is not None and time.monotonic() >= end) or self.eof or self.frame_ready():
                return out

    def frame_ready(self):
        if len(self.inbuf) < FRAME.size:
            return False
        h, p = FRAME.unpack_from(self.inbuf)
        return len(self.inbuf) >= FRAME.size + h + p

    def next_frame(self):
        while not self.frame_ready():
            if self.eof:
                raise HostGone()
            self.wait([], None)
        h, p = FRAME.unpack_from(self.inbuf)
        if h + p > MAX_FRAME:
            raise HostGone()
        start = FRAME.size
        header = json.loads(bytes(self.inbuf[start:start + h]).decode())
        payload = bytes(self.inbuf[start + h:start + h + p])
        del self.inbuf[:start + h + p]
        return header, payload


def send(header, payload=b""):
    data = json.dumps(header).encode()
    buf = FRAME.pack(len(data), len(payload)) + data + payload
    view = memoryview(buf)
    while view:
        n = os.write(1, view)
        view = view[n:]


def _make_dir(path, mode, uid=0, gid=0):
    st = gitstate._lstat(path)
    if st is None or not os.path.isdir(path) or os.path.islink(path):
        gitstate.remove(path)
        os.mkdir(path, mode)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def _other_supervisors():
    me = os.getpid()
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != me:
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    if SELF.encode() in f.read() and os.stat("/proc/" + name).st_uid == 0:
                        yield int(name)
            except OSError:
                pass


class Supervisor(object):
    def __init__(self, loop, cfg):
        self.loop = loop
        for pid in _other_supervisors():  # the one this replaces (hung or desynced)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.workdir = cfg["workdir"]
        self.ident = procs.lookup_user(cfg["user"])
        if self.ident is None and cfg.get("create_user"):
            self.ident = self._create_user(cfg["user"])
        if self.ident is None:
            raise RuntimeError("user %r does not exist in the image: the user must exist" % cfg["user"])
        if self.ident.uid == 0:
            raise RuntimeError("the agent's shell is never root")
        procs.kill_agent(self.ident.uid, loop.reaper, budget=2.0)
        _make_dir(shell.BASE, 0o755)
        _make_dir(shell.RUN, 0o755)
        _make_dir(gitstate.PRIVATE, 0o700)
        _make_dir(shell.CMD_DIR, 0o755)
        _make_dir(shell.SHELL_DIR, 0o700, self.ident.uid, self.ident.gid)
        for d in os.listdir(shell.SHELL_DIR) + [None]:
            if d:
                gitstate.remove(os.path.join(shell.SHELL_DIR, d))
        if gitstate._lstat(self.workdir) is None:
            os.makedirs(self.workdir)
            os.chown(self.workdir, self.ident.uid, self.ident.gid)
        env = {"PATH": procs.ROOT_PATH}
        env.update(cfg.get("env") or {})
        env.update({"HOME": self.ident.home, "USER": self.ident.name, "LOGNAME": self.ident.name,
                    "SHELL": "/bin/bash", "PAGER": "cat", "GIT_PAGER": "cat", "MANPAGER": "cat"})
        self.env = env
        self.dirs = [d for d in [self.ident.home, "/tmp", "/var/tmp", "/dev/shm", "/run/lock"]
                     if os.path.isdir(d) and not os.path.islink(d)]
        self.shell = shell.Shell(loop, self.ident, self.workdir, env)
        self.shell.prespawn()
        import editor
        self.editor = editor

    def _create_user(self, name):
        """Images without an unprivileged user (SWE-bench's run as root) get one, owning the work dir."""
        used = set()
        with open("/etc/passwd") as f:
            for line in f:
                parts = line.split(":")
                if len(parts) > 2 and parts[2].isdigit():
                    used.add(int(parts[2]))
        uid = next(u for u in range(1000, 60000) if u not in used)
        subprocess.run(["useradd", "--create-home", "--uid", str(uid), "--user-group", "--shell", "/bin/bash", name],
                       env={"PATH": procs.ROOT_PATH}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ident = procs.lookup_user(name)
        if ident is not None and os.path.isdir(self.workdir):
            for rel, _ in [("", None)] + gitstate.walk(self.workdir):
                os.lchown(os.path.join(self.workdir, rel) if rel else self.workdir, ident.uid, ident.gid)
        return ident

    # --- ops ----------------------------------------------------------------------------------------------
    def op_hello(self, h, p):
        return {"uid": self.ident.uid, "gid": self.ident.gid, "home": self.ident.home, "user": self.ident.name,
                "pid": os.getpid(), "python": sys.version.split()[0]}, b""

    def op_ping(self, h, p):
        return {}, b""

    def op_run(self, h, p):
        r = self.shell.run(p, float(h["timeout"]), int(h["limit"]))
        out = r.pop("output")
        return r, out

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
            if parent != gitstate.PRIVATE:
                raise OSError("root writes only under " + gitstate.PRIVATE)
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

    def op_checkpoint(self, h, p):
        ck = gitstate.checkpoint(self.workdir, self.ident, lambda argv, env: self.run_as(argv, env, 300.0),
                                 self.dirs, keep_copy=bool(h.get("keep_copy")))
        return ck, b""

    def op_reset(self, h, p):
        t0 = time.monotonic()
        killed, gone = procs.kill_agent(self.ident.uid, self.loop.reaper, budget=3.0)
        self.shell.reset()
        if not gone:
            return {"restored": False, "reason": "the agent's processes could not all be killed"}, b""
        try:
            gitstate.reset(self.workdir, self.dirs)
        except gitstate.Unprovable as exc:
            return {"restored": False, "reason": str(exc)}, b""
        except (OSError, RuntimeError) as exc:
            return {"restored": False, "reason": "reset failed: %s" % exc}, b""
        self._clear_ipc()
        self.shell.prespawn()
        return {"restored": True, "killed": killed, "seconds": time.monotonic() - t0}, b""

    def _clear_ipc(self):
        """SysV IPC objects and POSIX message queues of the agent outlive its processes: remove them."""
        uid = str(self.ident.uid)
        found = False
        for kind in ("shm", "sem", "msg"):
            try:
                with open("/proc/sysvipc/" + kind) as f:
                    found = found or any(line.split()[4:5] == [uid] for line in list(f)[1:])
            except OSError:
                pass
        if found:
            self.run_as(["ipcrm", "--all"], {"PATH": procs.ROOT_PATH}, 10.0, "/")
        try:
            for name in os.listdir("/dev/mqueue"):
                path = "/dev/mqueue/" + name
                if os.lstat(path).st_uid == self.ident.uid:
                    os.unlink(path)
        except OSError:
            pass

    def op_diff(self, h, p):
        limit = int(h["limit"])
        try:
            return {}, gitstate.diff(self.workdir, limit)
        except OverflowError as exc:
            return {"too_large": True, "size": exc.args[0] if exc.args else 0}, b""

    def op_changed(self, h, p):
        return {"changes": gitstate.changed(self.workdir)}, b""

    def op_restore(self, h, p):
        gitstate.restore_paths(self.workdir, list(h["paths"]))
        return {}, b""

    def op_restore_start(self, h, p):
        procs.kill_agent(self.ident.uid, self.loop.reaper, budget=3.0)
        self.shell.reset()
        gitstate.restore_start_copy(self.workdir, self.dirs)
        self.shell.prespawn()
        return {}, b""

    def op_results_dir(self, h, p):
        name = str(h["name"])
        if not name.replace("-", "").isalnum():
            raise ValueError("bad results dir name %r" % name)
        base = shell.BASE + "/results"
        _make_dir(base, 0o711)
        path = base + "/" + name
        gitstate.remove(path)
        os.mkdir(path, 0o700)
        os.chown(path, self.ident.uid, self.ident.gid)
        return {"path": path}, b""

    def op_kill(self, h, p):
        killed, gone = procs.kill_agent(self.ident.uid, self.loop.reaper, budget=2.0)
        self.shell.reset()
        self.shell.prespawn()
        return {"killed": killed, "gone": gone}, b""


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


def main():
    os.umask(0o022)
    os.set_blocking(1, True)
    procs.become_subreaper()
    loop = Loop()
    try:
        header, _ = loop.next_frame()
        sup = Supervisor(loop, header)
        send(dict(sup.op_hello(header, b"")[0], id=header.get("id"), ok=True))
    except HostGone:
        return 0
    except Exception as exc:  # the host shows this to the user: what is missing in the image
        send({"id": None, "ok": False, "error": "%s: %s" % (type(exc).__name__, exc)})
        return 1
    while True:
        try:
            header, payload = loop.next_frame()
        except HostGone:
            return 0
        fn = getattr(sup, "op_" + str(header.get("op")), None)
        try:
            if fn is None:
                raise ValueError("unknown op %r" % header.get("op"))
            reply, data = fn(header, payload)
            reply = dict(reply, id=header.get("id"), ok=reply.get("ok", True))
        except Exception as exc:
            reply, data = {"id": header.get("id"), "ok": False, "error": "%s: %s" % (type(exc).__name__, exc)}, b""
        send(reply, data)
        if loop.eof:
            return 0
        if not loop.frame_ready():
            sup.shell.prespawn()  # the next command's bash starts now, off the round trip


if __name__ == "__main__":
    sys.exit(main())
