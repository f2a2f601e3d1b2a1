"""Sandbox state helpers run inside the container: kill stray processes, git checkpoint / reset / diff of the work dir.

Usage: state.py kill [--since EPOCH] --keep PID[,PID]   (SIGKILL every process but the init, the kept ones and
       our own ancestors; with --since only those started at or after EPOCH, a Unix time)
       state.py checkpoint WORKDIR            -> prints JSON {commit, head, branch, index}
       state.py reset WORKDIR JSON --keep PID  (kill the rest, restore files, HEAD and index)
       state.py diff WORKDIR COMMIT           -> the binary-safe patch from COMMIT to the work dir, new files included
Stdlib only, Python 3.6+. The checkpoint lives in the repository as refs/srl/checkpoint, so `git gc` keeps it.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

HISTORY_DIR = "/tmp/.srl_editor_history"
GIT_ENV = {"GIT_AUTHOR_NAME": "srl-agent", "GIT_AUTHOR_EMAIL": "srl@localhost", "GIT_COMMITTER_NAME": "srl-agent",
           "GIT_COMMITTER_EMAIL": "srl@localhost", "LC_ALL": "C"}


def ancestors(pid):
    seen = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        try:
            with open("/proc/%d/stat" % pid) as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return seen


def stat(pid):
    """(parent pid, start time in seconds since boot) of a process, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[1]), int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def is_keeper(pid, info, init_start):
    """The container's own `sleep infinity` under the init: started with the container, must survive."""
    if info[0] != 1 or info[1] - init_start > 1.0:
        return False
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read() == b"sleep\0infinity\0"
    except OSError:
        return False


def candidates(keep, since):
    with open("/proc/uptime") as f:
        boot = time.time() - float(f.read().split()[0])  # the container shares the host's kernel and clock
    init = stat(1)
    init_start = init[1] if init else 0.0
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == 1 or pid in keep:
            continue
        info = stat(pid)
        if info is None or is_keeper(pid, info, init_start):
            continue
        if since is not None and boot + info[1] < since:
            continue
        out.append(pid)
    return out


def kill(keep, since=None):
    """Stop then kill in passes, so a fork bomb cannot outrun us; returns how many processes were killed."""
    keep = set(keep) | ancestors(os.getpid())
    killed = set()
    for _ in range(50):
        pids = candidates(keep, since)
        if not pids:
            break
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except PermissionError:  # another user's process (we run as the agent on reset): leave it
                    keep.add(pid)
                except OSError:
                    pass
        killed.update(pids)
        time.sleep(0.002)
    return len(killed)


def git(workdir, *args, index=None, check=True):
    env = dict(os.environ, **GIT_ENV)
    if index:
        env["GIT_INDEX_FILE"] = index
    proc = subprocess.run(["git", "-c", "safe.directory=*", "-c", "core.hooksPath=/dev/null", *args], cwd=workdir,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and proc.returncode != 0:
        sys.stderr.write("git %s failed: %s\n" % (" ".join(args), proc.stderr.decode("utf-8", "replace")))
        sys.exit(2)
    return proc


def out(proc):
    return proc.stdout.decode("utf-8", "surrogateescape").strip()


def temp_index(workdir):
    """A copy of the real index (so `git add -A` reuses its stat cache) that the agent's staging never sees.

    The copy keeps the index file's mtime: git detects "racily clean" entries (a file changed in the same
    second the index was written, size unchanged) by comparing entry times with the index file's own time,
    and a fresh mtime on the copy would make such an edit invisible to `diff`."""
    git_dir = out(git(workdir, "rev-parse", "--absolute-git-dir"))
    path = "/tmp/.srl-index-%d" % os.getpid()  # (tempfile would cost more import time than the whole reset)
    real = os.path.join(git_dir, "index")
    if os.path.exists(path):
        os.unlink(path)
    if os.path.exists(real):
        shutil.copy2(real, path)
    return path


def snapshot_tree(workdir):
    index = temp_index(workdir)
    try:
        git(workdir, "add", "-A", ".", index=index)
        return out(git(workdir, "write-tree", index=index))
    finally:
        if os.path.exists(index):
            os.unlink(index)


def checkpoint(workdir):
    if git(workdir, "rev-parse", "--is-inside-work-tree", check=False).returncode != 0:
        git(workdir, "init", "-q")
    tree = snapshot_tree(workdir)
    head = out(git(workdir, "rev-parse", "-q", "--verify", "HEAD^{commit}", check=False))
    branch = out(git(workdir, "symbolic-ref", "-q", "HEAD", check=False))
    parents = ["-p", head] if head else []
    commit = out(git(workdir, "commit-tree", tree, *parents, "-m", "srl-agent checkpoint"))
    git(workdir, "update-ref", "refs/srl/checkpoint", commit)
    index = out(git(workdir, "write-tree", check=False))
    shutil.rmtree(HISTORY_DIR, ignore_errors=True)
    return {"commit": commit, "head": head, "branch": branch, "index": index}


def reset(workdir, state):
    if state["branch"]:
        if state["head"]:
            git(workdir, "update-ref", state["branch"], state["head"])
        git(workdir, "symbolic-ref", "HEAD", state["branch"])
    elif state["head"]:
        git(workdir, "update-ref", "--no-deref", "HEAD", state["head"])
    git(workdir, "read-tree", "--reset", "-u", state["commit"])
    git(workdir, "clean", "-fdq")
    if state["index"]:
        git(workdir, "read-tree", "-m", state["index"])
    else:
        git(workdir, "read-tree", "--empty")
    shutil.rmtree(HISTORY_DIR, ignore_errors=True)


def diff(workdir, commit):
    index = temp_index(workdir)
    try:
        git(workdir, "add", "-A", ".", index=index)
        proc = git(workdir, "diff", "--cached", "--binary", "--no-color", "--no-ext-diff", commit, index=index)
    finally:
        if os.path.exists(index):
            os.unlink(index)
    sys.stdout.buffer.write(proc.stdout)


def keep_arg(argv):
    if "--keep" not in argv:
        return set()
    return {int(p) for p in argv[argv.index("--keep") + 1].split(",") if p}


def main(argv):
    cmd = argv[0]
    if cmd == "kill":
        since = float(argv[argv.index("--since") + 1]) if "--since" in argv else None
        print(kill(keep_arg(argv), since))
    elif cmd == "checkpoint":
        print(json.dumps(checkpoint(argv[1])))
    elif cmd == "reset":
        kill(keep_arg(argv))
        reset(argv[1], json.loads(argv[2]))
    elif cmd == "diff":
        diff(argv[1], argv[2])
    else:
        sys.stderr.write("unknown command %r\n" % cmd)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
