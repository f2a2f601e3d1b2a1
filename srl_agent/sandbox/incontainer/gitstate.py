"""Checkpoint / reset / diff of the work dir, done by root without reading anything the agent can configure.

Git runs as root against a *shadow* git dir (root-owned, 0700, outside the work tree) with
`--work-tree=<workdir>`, no system or global config and no hooks, so the repository's own `.git/config`
(core.fsmonitor, filters, hooks) is never read by a root process. The repository's `.git` itself is
snapshotted root-side (everything but the objects, as a tar; the objects as a list of what exists) and
restored on reset; if objects were removed or changed the state cannot be proven and reset says so.
A manifest of modes and owners restores permissions (`chmod -R 000`) and ownership. Stdlib only, 3.6+.
"""

import io
import json
import marshal
import os
import shutil
import stat
import subprocess
import tarfile

from fsutil import PRIVATE, lstat as _lstat, remove, walk, write_private
from procs import ROOT_PATH
from snapshot import extract, restore_dirs, restore_start_copy, snapshot_dirs, start_copy, tar_dir

SHADOW = PRIVATE + "/shadow.git"
CKPT = PRIVATE + "/checkpoint.json"
MANIFEST = PRIVATE + "/manifest.marshal"
GITMETA = PRIVATE + "/gitmeta.tar"
ATTRIBUTES = "* -text -filter -ident !eol !working-tree-encoding !diff !merge !export-subst\n"
GIT_CONFIG = ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "safe.directory=*",
              "-c", "core.untrackedCache=false", "-c", "core.autocrlf=false", "-c", "gc.auto=0",
              "-c", "core.symlinks=true", "-c", "core.quotePath=false", "-c", "maintenance.auto=false"]


class Unprovable(Exception):
    """The start state cannot be restored with certainty; the container must be recreated."""


def git_env(workdir, index=None):
    env = {"PATH": ROOT_PATH, "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
           "GIT_DIR": SHADOW, "GIT_WORK_TREE": workdir, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0",
           "GIT_AUTHOR_NAME": "srl-agent", "GIT_AUTHOR_EMAIL": "srl@localhost",
           "GIT_COMMITTER_NAME": "srl-agent", "GIT_COMMITTER_EMAIL": "srl@localhost"}
    if index:
        env["GIT_INDEX_FILE"] = index
    return env


def git(workdir, *args, index=None, data=None, timeout=300, check=True, limit=None):
    """Root git on the shadow dir; stdout bytes. With `limit`, reading stops (and git is killed) past it."""
    env = git_env(workdir, index)
    if args[0] == "init":
        del env["GIT_DIR"], env["GIT_WORK_TREE"]
    proc = subprocess.Popen(["git"] + GIT_CONFIG + list(args), cwd=PRIVATE, env=env,
                            stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if limit is None:
        try:
            out, err = proc.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise RuntimeError("git %s timed out after %ss" % (args[0], timeout))
    else:
        out = proc.stdout.read(limit + 1)
        if len(out) > limit:
            proc.kill()
            proc.communicate()
            raise OverflowError(len(out))
        rest, err = proc.communicate(timeout=timeout)
        out += rest
    if check and proc.returncode != 0:
        raise RuntimeError("git %s failed: %s" % (" ".join(args[:3]), err.decode("utf-8", "replace")[-2000:]))
    return out


def _kind(mode):
    return "d" if stat.S_ISDIR(mode) else "l" if stat.S_ISLNK(mode) else "f" if stat.S_ISREG(mode) else "o"


def manifest(top, skip_top=(".git",)):
    """Kind, mode and owner of every entry under top ("" is top itself)."""
    entries = [("", os.lstat(top))] + walk(top, skip_top)
    return {r: (_kind(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) for r, st in entries}


def _objects_list(gitdir):
    objs = os.path.join(gitdir, "objects")
    st = _lstat(objs)
    if st is None or not stat.S_ISDIR(st.st_mode):
        return None
    return {r: (_kind(s.st_mode), s.st_ino, s.st_size, s.st_ctime_ns) for r, s in walk(objs)}


def agent_git(ident, workdir, args, run_as):
    """git in the agent's own repository runs as the agent (its config can only do what the agent can)."""
    env = {"PATH": ROOT_PATH, "HOME": ident.home, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0",
           "GIT_CONFIG_NOSYSTEM": "1"}
    return run_as(["git", "-c", "core.fsmonitor=false", "-c", "safe.directory=*", "-C", workdir] + args, env)


def checkpoint(workdir, ident, run_as, dirs, keep_copy=False):
    """Make the current work dir, its .git and the writable places the start state."""
    st = _lstat(workdir)
    if st is None or not stat.S_ISDIR(st.st_mode):
        raise RuntimeError("the work dir %s is not a directory" % workdir)
    if _lstat(os.path.join(workdir, ".git")) is None:
        code, out = agent_git(ident, workdir, ["init", "-q"], run_as)
        if code != 0:
            raise RuntimeError("git init in %s failed: %s" % (workdir, out[-500:]))
    code, listed = agent_git(ident, workdir, ["ls-files", "-z", "-c", "-i", "--exclude-standard"], run_as)
    tracked_ignored = listed if code == 0 else b""
    remove(SHADOW)
    git(workdir, "init", "-q", "--bare", SHADOW)
    git(workdir, "config", "core.bare", "false")
    with open(SHADOW + "/info/attributes", "w") as f:
        f.write(ATTRIBUTES)
    exclude = os.path.join(workdir, ".git", "info", "exclude")
    xs = _lstat(exclude)
    if xs is not None and stat.S_ISREG(xs.st_mode) and xs.st_size < (1 << 20):
        shutil.copyfile(exclude, SHADOW + "/info/exclude")
    for name in ("index.full", "index.patch"):
        remove(PRIVATE + "/" + name)
    git(workdir, "add", "-A", "-f", ".", index=PRIVATE + "/index.full")
    full = git(workdir, "write-tree", index=PRIVATE + "/index.full").decode().strip()
    git(workdir, "add", "-A", ".", index=PRIVATE + "/index.patch")
    if tracked_ignored.strip(b"\0"):
        git(workdir, "add", "-f", "--pathspec-from-file=-", "--pathspec-file-nul", index=PRIVATE + "/index.patch",
            data=tracked_ignored, check=False)
    patch = git(workdir, "write-tree", index=PRIVATE + "/index.patch").decode().strip()
    write_private(MANIFEST, marshal.dumps(manifest(workdir)))
    gitdir = os.path.join(workdir, ".git")
    gs = _lstat(gitdir)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if gs is not None and stat.S_ISDIR(gs.st_mode):
            tar_dir(tar, gitdir, ".git", exclude_top=("objects",))
        elif gs is not None:
            tar.add(gitdir, arcname=".git", recursive=False)
    write_private(GITMETA, buf.getvalue())
    objects = _objects_list(gitdir) if gs is not None and stat.S_ISDIR(gs.st_mode) else None
    snapshot_dirs(dirs)
    copied = keep_copy and start_copy(workdir, dirs)
    state = {"workdir": workdir, "full": full, "patch": patch, "objects": objects, "gitdir": _kind(gs.st_mode) if gs
             else None, "dirs": dirs, "start_copy": bool(copied)}
    write_private(CKPT, json.dumps(state).encode())
    return {"full": full, "patch": patch, "start_copy": bool(copied)}


def load_checkpoint():
    try:
        with open(CKPT, "rb") as f:
            return json.loads(f.read().decode())
    except (OSError, ValueError):
        return None


def _restore_gitdir(workdir, ck):
    gitdir = os.path.join(workdir, ".git")
    gs = _lstat(gitdir)
    if ck["gitdir"] == "d":
        if gs is None or not stat.S_ISDIR(gs.st_mode):
            raise Unprovable(".git was removed or replaced")
        now = _objects_list(gitdir)
        if now is None:
            raise Unprovable(".git/objects was removed or replaced")
        was = ck["objects"] or {}
        for rel, info in was.items():
            if tuple(now.get(rel) or ()) != tuple(info):
                raise Unprovable("git objects were removed or changed (%s)" % rel)
        for rel in sorted(set(now) - set(was), key=lambda r: -r.count("/")):
            remove(os.path.join(gitdir, "objects", rel))
        for e in os.listdir(gitdir):
            if e != "objects":
                remove(os.path.join(gitdir, e))
    else:
        remove(gitdir)
    with tarfile.open(GITMETA) as tar:
        members = [m for m in tar.getmembers() if m.name != ".git" or ck["gitdir"] != "d"]
        extract(tar, members, workdir)
        top = [m for m in tar.getmembers() if m.name == ".git"]
        if top and ck["gitdir"] == "d":
            os.chown(gitdir, top[0].uid, top[0].gid)
            os.chmod(gitdir, top[0].mode)


def _fix_tree(workdir):
    """Owners and modes back to the manifest; unknown entries removed; missing directories made."""
    want = marshal.loads(open(MANIFEST, "rb").read())
    for rel, st in [("", os.lstat(workdir))] + walk(workdir, (".git",)):
        path = os.path.join(workdir, rel) if rel else workdir
        w = want.get(rel)
        if w is None:
            remove(path)
            continue
        if _kind(st.st_mode) != w[0]:
            raise Unprovable("%s is not what it was" % rel)
        if (st.st_uid, st.st_gid) != (w[2], w[3]):
            os.lchown(path, w[2], w[3])
        if w[0] != "l" and stat.S_IMODE(st.st_mode) != w[1]:
            os.chmod(path, w[1])
    for rel in sorted(want, key=lambda r: r.count("/")):
        w = want[rel]
        path = os.path.join(workdir, rel)
        if _lstat(path) is None:
            if w[0] != "d":
                raise Unprovable("%s could not be restored" % rel)
            os.mkdir(path, w[1])
            os.lchown(path, w[2], w[3])
            os.chmod(path, w[1])


def reset(workdir, dirs):
    """Restore work dir, .git and writable places (the agent's processes must already be gone)."""
    ck = load_checkpoint()
    if ck is None:
        raise RuntimeError("no checkpoint")
    st = _lstat(workdir)
    if st is None or not stat.S_ISDIR(st.st_mode):
        raise Unprovable("the work dir %s was removed or replaced" % workdir)
    _restore_gitdir(workdir, ck)
    try:
        git(workdir, "read-tree", "-u", "--reset", ck["full"], index=PRIVATE + "/index.full")
        git(workdir, "clean", "-ffdxq", index=PRIVATE + "/index.full")
    except RuntimeError as exc:
        raise Unprovable(str(exc))
    _fix_tree(workdir)
    restore_dirs(dirs)


def _temp_index(name):
    """A copy of the checkpoint's patch index that keeps its mtime (git's racy-clean check compares file times
    with the index's own time, and a fresh mtime would hide a same-size edit made in the same second)."""
    path = PRIVATE + "/" + name
    remove(path)
    shutil.copy2(PRIVATE + "/index.patch", path)
    return path


def _changed_bytes(workdir, index):
    """Bytes of the files that differ from the checkpoint, measured before anything is hashed."""
    names = git(workdir, "diff-files", "--name-only", "-z", index=index).split(b"\0")
    names += git(workdir, "ls-files", "--others", "--exclude-standard", "-z", index=index).split(b"\0")
    total = 0
    for n in names:
        if n:
            s = _lstat(os.path.join(workdir.encode(), n))
            if s is not None and stat.S_ISREG(s.st_mode):
                total += s.st_size
    return total, len([n for n in names if n])


def diff(workdir, limit):
    """The binary-safe patch from the checkpoint to the work dir (new files included), at most `limit` bytes.
    Raises OverflowError(size) past it, before hashing large new files."""
    ck = load_checkpoint()
    if ck is None:
        raise RuntimeError("no checkpoint")
    index = _temp_index("index.diff")
    try:
        size, _ = _changed_bytes(workdir, index)
        if size > 4 * limit:
            raise OverflowError(size)
        git(workdir, "add", "-A", ".", index=index)
        return git(workdir, "diff", "--cached", "--binary", "--no-color", "--no-ext-diff", ck["patch"], index=index,
                   limit=limit)
    finally:
        remove(index)


def changed(workdir):
    """[(status letter, path)] of the work dir against the checkpoint (no renames), for the grader."""
    ck = load_checkpoint()
    index = _temp_index("index.changed")
    try:
        git(workdir, "add", "-A", ".", index=index)
        out = git(workdir, "diff", "--cached", "--name-status", "-z", "--no-renames", ck["patch"], index=index)
    finally:
        remove(index)
    parts = out.split(b"\0")
    return [(parts[i].decode(), parts[i + 1].decode("utf-8", "surrogateescape"))
            for i in range(0, len(parts) - 1, 2) if parts[i]]


def restore_paths(workdir, paths):
    """Put these paths back as they were at the checkpoint (removing those that did not exist)."""
    ck = load_checkpoint()
    want = marshal.loads(open(MANIFEST, "rb").read())
    index = PRIVATE + "/index.restore"
    remove(index)
    shutil.copy2(PRIVATE + "/index.full", index)
    try:
        known = set(git(workdir, "ls-tree", "-r", "-z", "--name-only", ck["full"], index=index).split(b"\0"))
        for p in paths:
            remove(os.path.join(workdir, p))
        back = [p for p in paths if p.encode("utf-8", "surrogateescape") in known]
        if back:
            git(workdir, "checkout", ck["full"], "--pathspec-from-file=-", "--pathspec-file-nul", index=index,
                data=b"\0".join(p.encode("utf-8", "surrogateescape") for p in back))
        for p in back:  # git wrote these (and any parent it had to make) as root
            rel = p
            while rel:
                w = want.get(rel)
                if w is not None:
                    os.lchown(os.path.join(workdir, rel), w[2], w[3])
                    if w[0] != "l":
                        os.chmod(os.path.join(workdir, rel), w[1])
                rel = os.path.dirname(rel)
    finally:
        remove(index)
