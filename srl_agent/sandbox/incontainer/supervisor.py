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

from agentops import AgentOps  # noqa: E402
import fsutil  # noqa: E402
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
    st = fsutil.lstat(path)
    if st is None or not os.path.isdir(path) or os.path.islink(path):
        fsutil.remove(path)
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


class Supervisor(AgentOps):
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
        _make_dir(fsutil.PRIVATE, 0o700)
        _make_dir(shell.CMD_DIR, 0o755)
        _make_dir(shell.SHELL_DIR, 0o700, self.ident.uid, self.ident.gid)
        for d in os.listdir(shell.SHELL_DIR) + [None]:
            if d:
                fsutil.remove(os.path.join(shell.SHELL_DIR, d))
        if fsutil.lstat(self.workdir) is None:
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
            for rel, _ in [("", None)] + fsutil.walk(self.workdir):
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
        fsutil.remove(path)
        os.mkdir(path, 0o700)
        os.chown(path, self.ident.uid, self.ident.gid)
        return {"path": path}, b""

    def op_kill(self, h, p):
        killed, gone = procs.kill_agent(self.ident.uid, self.loop.reaper, budget=2.0)
        self.shell.reset()
        self.shell.prespawn()
        return {"killed": killed, "gone": gone}, b""


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
