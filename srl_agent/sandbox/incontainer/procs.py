"""Processes of the agent user, seen and controlled by the root supervisor: spawn, watch, kill, cgroup headroom.

Runs inside the container as root under `python3 -I -S` (stdlib only, Python 3.6+). Every fact used here comes
from the kernel (wait status, /proc/<pid>/status, cgroup files), never from anything the agent's processes print.
"""

import os
import signal
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Ident(object):
    """Who the agent is: uid, gid, supplementary groups, home, name."""

    def __init__(self, name, uid, gid, groups, home):
        self.name, self.uid, self.gid, self.groups, self.home = name, uid, gid, groups, home


def lookup_user(name):
    """The user's passwd entry and groups, read from the files (no NSS modules run in a root process)."""
    entry = None
    with open("/etc/passwd") as f:
        for line in f:
            parts = line.rstrip("\n").split(":")
            if len(parts) >= 7 and parts[0] == name:
                entry = parts
                break
    if entry is None:
        return None
    uid, gid = int(entry[2]), int(entry[3])
    groups = {gid}
    try:
        with open("/etc/group") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 4 and name in parts[3].split(","):
                    groups.add(int(parts[2]))
    except (OSError, ValueError):
        pass
    return Ident(name, uid, gid, sorted(groups), entry[5] or "/")


def drop_to(ident):
    """In a forked child: become the agent (groups, gid, uid; no way back) and die before the agent's processes
    when memory runs out."""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    os.setgroups(ident.groups)
    os.setgid(ident.gid)
    os.setuid(ident.uid)
    if os.getuid() == 0 or os.geteuid() == 0:
        os._exit(126)


def _child_signals():
    for sig in (signal.SIGPIPE, signal.SIGCHLD, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    try:
        signal.set_wakeup_fd(-1)
    except ValueError:
        pass


def spawn(argv, env, cwd, ident, stdin_fd, out_fd):
    """Fork and exec `argv` as the agent in a new session with stdin/stdout/stderr given; returns the pid."""
    pid = os.fork()
    if pid:
        return pid
    try:
        _child_signals()
        os.setsid()
        os.dup2(stdin_fd, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.closerange(3, 65536)
        drop_to(ident)
        try:
            os.chdir(cwd)
        except OSError:
            os.chdir("/")
        os.execve(argv[0], argv, env)
    except BaseException:
        pass
    os._exit(127)


def fork_as(ident, fn, out_fd, cwd="/"):
    """Fork a child that drops to the agent and runs fn(out_fd) in Python (no exec: ~1 ms, not ~20 ms);
    the child's exit code is fn's return value. Every other descriptor is closed before fn runs."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        _child_signals()
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        for fd in range(1, 3):
            os.dup2(out_fd, fd)
        keep = 3
        os.dup2(out_fd, keep)
        os.closerange(keep + 1, 65536)
        drop_to(ident)
        try:
            os.chdir(cwd)
        except OSError:
            os.chdir("/")
        code = fn(keep)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        code = 1
    os._exit(code or 0)


def exit_code(status):
    """A wait status as a shell exit code (128 + signal for a killed process)."""
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return 255


class Reaper(object):
    """Reaps every child (the supervisor is a child subreaper: orphans of the agent come here) and keeps the
    statuses of the ones it was asked to watch."""

    def __init__(self):
        self.watched = {}

    def watch(self, pid):
        self.watched[pid] = None

    def reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if pid == 0:
                return
            if pid in self.watched:
                self.watched[pid] = status

    def status(self, pid):
        return self.watched.get(pid)

    def forget(self, pid):
        self.watched.pop(pid, None)


def become_subreaper():
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:  # without it orphans go to the container's init, which reaps them too
        pass


def boot_ticks():
    with open("/proc/uptime") as f:
        return int(float(f.read().split()[0]) * CLK_TCK)


def _uids_and_state(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            text = f.read()
    except OSError:
        return None, None
    uids, state = (), None
    for line in text.splitlines():
        if line.startswith("Uid:"):
            uids = tuple(int(x) for x in line.split()[1:])
        elif line.startswith("State:"):
            state = line.split()[1]
    return uids, state


def _start_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def agent_pids(uid, since=None, keep=()):
    """Live processes that run as the agent by any of real/effective/saved/fs uid (the owner of /proc/<pid>
    is not enough: a process can make itself non-dumpable), started at or after `since` (boot ticks)."""
    out = []
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == me or pid == 1 or pid in keep:
            continue
        uids, state = _uids_and_state(pid)
        if not uids or uid not in uids or state in ("Z", "X"):
            continue
        if since is not None:
            start = _start_ticks(pid)
            if start is None or start < since:
                continue
        out.append(pid)
    return out


def kill_agent(uid, reaper, since=None, keep=(), budget=1.0):
    """Stop, then kill, the agent's processes in passes until none is left (a fork bomb cannot outrun a
    stopped parent). Returns (how many were killed, whether none is left)."""
    end = time.monotonic() + budget
    killed = set()
    while True:
        pids = agent_pids(uid, since, keep)
        if not pids:
            reaper.reap()
            return len(killed), True
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
        killed.update(pids)
        reaper.reap()
        if time.monotonic() > end:
            return len(killed), False
        time.sleep(0.001)


def _read_int(path, _fds={}):
    """An integer cgroup file (kept open and re-read with pread: a command's pre-flight check costs ~20 us)."""
    fd = _fds.get(path)
    try:
        if fd is None:
            fd = _fds[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        text = os.pread(fd, 64, 0).decode().strip()
    except OSError:
        return None
    return None if text == "max" or not text.lstrip("-").isdigit() else int(text)


def pids_usage(cache):
    """(processes in the container, its limit) from the pids cgroup (v1 or v2), or (None, None)."""
    if "pids" not in cache:
        cache["pids"] = None
        for d in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup"):
            if _read_int(d + "/pids.current") is not None:
                cache["pids"] = (d + "/pids.current", _read_int(d + "/pids.max"))
                break
    if cache["pids"] is None:
        return None, None
    return _read_int(cache["pids"][0]), cache["pids"][1]


def pids_refusals(cache):
    """How many forks the pids cgroup has refused so far (pids.events "max"), or None."""
    if "events" not in cache:
        cache["events"] = None
        for d in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup"):
            try:
                fd = os.open(d + "/pids.events", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            cache["events"] = fd
            break
    if cache["events"] is None:
        return None
    try:
        for line in os.pread(cache["events"], 256, 0).decode().splitlines():
            key, _, value = line.partition(" ")
            if key == "max":
                return int(value)
    except (OSError, ValueError):
        pass
    return None


def memory_usage(cache):
    """(bytes in use without the inactive page cache, limit) from the memory cgroup (v1 or v2), or
    (None, None). The cache statistics are read only when the raw usage is near the limit."""
    if "mem" not in cache:
        cache["mem"] = None
        for usage, limit in (("memory.usage_in_bytes", "memory.limit_in_bytes"), ("memory.current", "memory.max")):
            for d in ("/sys/fs/cgroup/memory", "/sys/fs/cgroup"):
                if _read_int(d + "/" + usage) is not None:
                    lim = _read_int(d + "/" + limit)
                    cache["mem"] = (d + "/" + usage, d + "/memory.stat", lim if lim and lim < (1 << 60) else None)
                    break
            if cache["mem"]:
                break
    if cache["mem"] is None or cache["mem"][2] is None:
        return None, None
    usage_path, stat_path, lim = cache["mem"]
    cur = _read_int(usage_path)
    if cur is None or cur < 0.9 * lim:
        return cur, lim
    try:
        with open(stat_path) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key in ("total_inactive_file", "inactive_file"):
                    return cur - int(value), lim
    except (OSError, ValueError):
        pass
    return cur, lim


def agent_rss(uid):
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for pid in agent_pids(uid):
        try:
            with open("/proc/%d/statm" % pid) as f:
                total += int(f.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            pass
    return total
