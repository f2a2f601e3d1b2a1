"""File-system helpers of the root supervisor that never follow a link the agent could have made."""

import os
import shutil
import stat

PRIVATE = "/var/lib/srl-agent/private"  # root 0700: the supervisor's own state


def lstat(path):
    try:
        return os.lstat(path)
    except OSError:
        return None


def remove(path):
    """Remove a file, link or tree without ever following a symlink."""
    st = lstat(path)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path, ignore_errors=True)
        if lstat(path) is not None:
            os.chmod(path, 0o700)
            shutil.rmtree(path)
    else:
        os.unlink(path)


def walk(top, skip_top=()):
    """(relative path, lstat) of everything under top, parents before children, never following links."""
    out = []
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            entries = list(os.scandir(os.path.join(top, rel) if rel else top))
        except OSError:
            continue
        for e in entries:
            if not rel and e.name in skip_top:
                continue
            r = os.path.join(rel, e.name) if rel else e.name
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            out.append((r, st))
            if stat.S_ISDIR(st.st_mode):
                stack.append(r)
    out.sort(key=lambda x: x[0].count("/"))
    return out


def write_private(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)
