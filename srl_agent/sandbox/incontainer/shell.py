"""The agent's bash commands, run by the root supervisor: one fresh bash process per command, as the agent.

Framing does not depend on anything the agent's shell prints: the output is the command's own pipe, the exit
code is the kernel's wait status of that bash process, and the timeout is enforced by the supervisor, which
kills every process the command started. Shell state (cwd, exported and plain variables, functions, aliases,
shopt/set options, umask) carries over through a state file the command's bash writes when it ends and the
next one sources, so a function the agent defines (`eval`, `printf`, `trap`, ...) can only change the agent's
own later commands. The next bash is started while the current command runs, so a command does not wait for
bash to start. Stdlib only, Python 3.6+.
"""

import os
import time

import procs
from fsutil import remove

BASE = "/var/lib/srl-agent"
RUN = "/run/srl-agent"      # a small tmpfs (container.py): per-command files never touch the overlay
CMD_DIR = RUN + "/cmd"      # root 0755: the command texts, written by root, read by the agent's bash
SHELL_DIR = RUN + "/shell"  # agent 0700: the state files the agent's bash writes
LEFTOVER_MAX = 64 << 10
MAX_LEFTOVER_PIPES = 64
# Variables bash computes itself: never carried over (RANDOM would be re-seeded, SECONDS reset, ...).
SPECIALS = ("BASH_ARGC BASH_ARGV BASH_ARGV0 BASH_COMMAND BASH_EXECUTION_STRING BASH_LINENO BASH_SOURCE "
            "BASH_SUBSHELL BASHPID COMP_WORDBREAKS DIRSTACK EPOCHREALTIME EPOCHSECONDS FUNCNAME GROUPS HISTCMD "
            "LINENO RANDOM SECONDS SRANDOM PIPESTATUS SHLVL PWD _ __srl_cmd")
# The go line arrives when the command is dispatched; the command file (root-written) holds the state to load
# and the command. Only builtins run before the command, so the agent's PATH or functions cannot delay it.
# The save must be on the eval's line: after a syntax error inside eval, bash misparses a `{` on the next line.
BOOT = r"""IFS= builtin read -r __srl_go || builtin exit 97
{ IFS= builtin read -r __srl_in; IFS= builtin read -r -d '' __srl_cmd; } < %(cmd)s
builtin exec </dev/null
if [ -n "$__srl_in" ]; then builtin unset -v %(env)s; builtin source "$__srl_in" >/dev/null 2>&1; builtin set +o errexit; fi
builtin unset -v __srl_in __srl_go
__srl_save() { { builtin printf 'builtin cd -- %%q\n' "$PWD"; builtin unset -v %(specials)s; builtin declare -p; builtin declare -f; builtin alias -p; builtin shopt -p; builtin set +o; builtin umask -p; } > %(out)s; builtin exit "$1"; }
builtin eval "$__srl_cmd"; { __srl_save $?; } 2>/dev/null
"""


class Capture(object):
    """The first and last `limit // 2` bytes of a stream, with a count of what was dropped in between."""

    def __init__(self, limit):
        self.head_max = max(limit // 2, 0)
        self.tail_max = max(limit - self.head_max, 0)
        self.head, self.tail, self.dropped = bytearray(), bytearray(), 0

    def feed(self, data):
        room = self.head_max - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail += data
        excess = len(self.tail) - self.tail_max
        if excess > 65536:
            del self.tail[:excess]
            self.dropped += excess

    def result(self):
        excess = len(self.tail) - self.tail_max
        if excess > 0:
            del self.tail[:excess]
            self.dropped += excess
        if not self.dropped:
            return bytes(self.head + self.tail), False
        marker = ("\n[... %d bytes of output omitted ...]\n" % self.dropped).encode()
        return bytes(self.head) + marker + bytes(self.tail), True


class Spare(object):
    def __init__(self, n, pid, ctl, out):
        self.n, self.pid, self.ctl, self.out = n, pid, ctl, out


def _close(fd):
    try:
        os.close(fd)
    except OSError:
        pass


def drain(fd, cap, most=4 << 20):
    """Read what a non-blocking pipe holds now; True at EOF."""
    got = 0
    while got < most:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return False
        except OSError:
            return True
        if not data:
            return True
        cap.feed(data)
        got += len(data)
    return False


class Shell(object):
    def __init__(self, loop, ident, workdir, env):
        self.loop, self.ident, self.workdir = loop, ident, workdir
        self.env = dict(env)
        self.n = 0
        self.state = None
        self.spare = None
        self.leftover = bytearray()
        self.leftover_fds = []
        self.limits = {}  # cgroup file paths and limits, found once
        names = [k for k in self.env if k.replace("_", "a").isalnum() and not k[0].isdigit()]
        self.env_names = " ".join(sorted(names)) or "__srl_none"

    # --- processes ----------------------------------------------------------------------------------------
    def _spawn(self, n):
        ctl_r, ctl_w = os.pipe()
        out_r, out_w = os.pipe()
        boot = BOOT % {"cmd": "%s/%d" % (CMD_DIR, n), "out": "%s/st.%d" % (SHELL_DIR, n),
                       "env": self.env_names, "specials": SPECIALS}
        try:
            pid = procs.spawn(["/bin/bash", "--noprofile", "--norc", "-c", boot, "bash"], self.env, self.workdir,
                              self.ident, ctl_r, out_w)
        except OSError:  # EAGAIN: the pids limit is used up
            pid = None
        _close(ctl_r)
        _close(out_w)
        if pid is None:
            _close(ctl_w)
            _close(out_r)
            return None
        os.set_blocking(out_r, False)
        self.loop.reaper.watch(pid)
        return Spare(n, pid, ctl_w, out_r)

    def _discard(self, sp):
        if sp is None:
            return
        try:
            os.kill(sp.pid, 9)
        except OSError:
            pass
        _close(sp.ctl)
        _close(sp.out)

    def prespawn(self):
        if self.spare is None or self.spare.n != self.n + 1 or self.loop.reaper.status(self.spare.pid) is not None:
            self._discard(self.spare)
            self.spare = self._spawn(self.n + 1)

    # --- leftovers of background jobs ---------------------------------------------------------------------
    def _feed_leftover(self, data):
        self.leftover += data
        if len(self.leftover) > LEFTOVER_MAX:
            del self.leftover[:len(self.leftover) - LEFTOVER_MAX]

    def _keep_draining(self, fd):
        """A background job still holds the pipe: keep reading it (it must not die of SIGPIPE)."""
        class Sink(object):
            feed = staticmethod(self._feed_leftover)

        def on_ready(fd=fd):
            if drain(fd, Sink):
                self.loop.drains.pop(fd, None)
                self.leftover_fds.remove(fd)
                _close(fd)

        self.leftover_fds.append(fd)
        self.loop.drains[fd] = on_ready
        if len(self.leftover_fds) > MAX_LEFTOVER_PIPES:
            old = self.leftover_fds.pop(0)
            self.loop.drains.pop(old, None)
            _close(old)

    # --- commands -----------------------------------------------------------------------------------------
    def preflight(self):
        """Notes for the agent when leftovers of earlier commands used up the pids or memory limit; those
        processes are killed first, so the next command can run."""
        notes = []
        cur, mx = procs.pids_usage(self.limits)
        refused = procs.pids_refusals(self.limits)
        newly_refused = refused is not None and refused > self.limits.get("refused", refused)
        self.limits["refused"] = refused
        if mx and cur is not None and (cur >= mx - max(8, mx // 4) or (newly_refused and cur > mx // 2)):
            k, _ = procs.kill_agent(self.ident.uid, self.loop.reaper, budget=2.0)
            notes.append("[the container's process limit (%d) was used up by processes left running by earlier "
                         "commands: %d of them were killed before this command ran]" % (mx, k))
        used, lim = procs.memory_usage(self.limits)
        if lim and used is not None and used > 0.9 * lim and procs.agent_rss(self.ident.uid) > 0.5 * lim:
            k, _ = procs.kill_agent(self.ident.uid, self.loop.reaper, budget=2.0)
            notes.append("[the container's memory (%d MiB) was nearly used up by processes left running by earlier "
                         "commands: %d of them were killed before this command ran]" % (lim >> 20, k))
        return notes

    def _take(self, notes):
        self.prespawn()
        sp, self.spare = self.spare, None
        if sp is None:
            k, _ = procs.kill_agent(self.ident.uid, self.loop.reaper, budget=2.0)
            notes.append("[no process could be started: the container's process limit is used up; %d processes "
                         "of earlier commands were killed]" % k)
            sp = self._spawn(self.n + 1)
        return sp

    def run(self, cmd, timeout, limit):
        """{exit, timed_out, notes, output, truncated} of one command."""
        deadline = time.monotonic() + timeout
        notes = self.preflight()
        sp = self._take(notes)
        cap = Capture(limit)
        cap.feed(bytes(self.leftover))
        del self.leftover[:]
        if sp is None:
            out, trunc = cap.result()
            return {"exit": None, "timed_out": False, "notes": notes, "output": out, "truncated": trunc}
        self.n = sp.n
        path = "%s/%d" % (CMD_DIR, sp.n)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write((self.state or "").encode() + b"\n" + cmd)
        since = procs.boot_ticks()
        try:
            os.write(sp.ctl, b"\n")
        except OSError:
            pass
        _close(sp.ctl)
        status, eof = self._wait(sp, cap, deadline)
        timed_out = status is None
        if timed_out:
            keep = (self.spare.pid,) if self.spare else ()
            try:
                os.kill(sp.pid, 9)  # started before `since`: named explicitly
            except OSError:
                pass
            procs.kill_agent(self.ident.uid, self.loop.reaper, since=since - 1, keep=keep, budget=0.3)
            notes.append("[command timed out after %g seconds and was killed]" % timeout)
        if not eof and not drain(sp.out, cap):
            self._keep_draining(sp.out)
        else:
            _close(sp.out)
        self.loop.reaper.forget(sp.pid)
        code = None if timed_out else procs.exit_code(status)
        self._after(sp.n, status, code, notes)
        try:
            os.unlink(path)
        except OSError:
            pass
        out, trunc = cap.result()
        return {"exit": code, "timed_out": timed_out, "notes": notes, "output": out, "truncated": trunc}

    def _wait(self, sp, cap, deadline):
        eof = False
        while True:
            status = self.loop.reaper.status(sp.pid)
            if status is not None:
                return status, eof or drain(sp.out, cap)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.loop.eof:
                return None, eof
            ready = self.loop.wait([] if eof else [sp.out], remaining)
            if sp.out in ready:
                eof = drain(sp.out, cap)

    def _after(self, n, status, code, notes):
        new = "%s/st.%d" % (SHELL_DIR, n)
        saved = status is not None and os.WIFEXITED(status) and os.path.isfile(new)
        if saved:
            old, self.state = self.state, new
            if old and old != new:
                try:
                    os.unlink(old)
                except OSError:
                    pass
        elif status is not None:
            notes.append("[the shell exited (code %d) before the end of the command: its changes to cwd and "
                         "variables were not kept]" % code)

    def reset(self):
        """Forget the shell state and every leftover (the agent's processes are already gone)."""
        self._discard(self.spare)
        self.spare = None
        for fd in self.leftover_fds:
            self.loop.drains.pop(fd, None)
            _close(fd)
        self.leftover_fds = []
        del self.leftover[:]
        self.state = None
        for d in (SHELL_DIR, CMD_DIR):
            for name in os.listdir(d):
                remove(os.path.join(d, name))
