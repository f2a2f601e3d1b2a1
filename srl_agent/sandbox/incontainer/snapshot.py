"""Root-owned snapshots of the writable places (home, /tmp, ...) and of a whole start state, as tar files.

Restoring never writes through a path the agent could have prepared: a tar is unpacked into a private staging
directory first and its entries moved in after the destination was emptied (the agent's processes are gone by
then). Stdlib only, Python 3.6+.
"""

import io
import os
import stat
import tarfile

from fsutil import PRIVATE, lstat as _lstat, remove, walk, write_private

DIRS_TAR = PRIVATE + "/dirs.tar"
START_TAR = PRIVATE + "/start.tar"
START_TAR_MAX = 256 << 20


def tar_dir(tar, path, arcname, exclude_top=()):
    """Add a directory's contents (not following links) to an open tar, owners and modes kept."""
    tar.add(path, arcname=arcname, recursive=False)
    for rel, st in walk(path, exclude_top):
        if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
            tar.add(os.path.join(path, rel), arcname=arcname + "/" + rel, recursive=False)


def extract(tar, members, dest_parent):
    for m in members:
        tar.extract(m, dest_parent, set_attrs=True, numeric_owner=True)
    for m in sorted((m for m in members if m.isdir()), key=lambda m: -m.name.count("/")):
        target = os.path.join(dest_parent, m.name)  # directories last: their modes may forbid writing inside
        os.chown(target, m.uid, m.gid)
        os.chmod(target, m.mode)


def clear_dir(path):
    st = _lstat(path)
    if st is None or not stat.S_ISDIR(st.st_mode):
        remove(path)
        os.mkdir(path, 0o700)
        return
    os.chmod(path, 0o700)
    for e in os.listdir(path):
        remove(os.path.join(path, e))


def snapshot_dirs(dirs):
    """A root-owned tar of the writable places (home, /tmp, ...) as they are now."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i, d in enumerate(dirs):
            st = _lstat(d)
            if st is not None and stat.S_ISDIR(st.st_mode):
                tar_dir(tar, d, "d%d" % i)
    write_private(DIRS_TAR, buf.getvalue())


def _unpack_into(tar, members, prefix, dest):
    """Replace dest's contents by the tar's `prefix/` tree: unpacked into a private staging dir first (no path
    the agent could have prepared is written through), then moved in; dest's own owner and mode restored."""
    own = [m for m in members if m.name == prefix or m.name.startswith(prefix + "/")]
    if not own:
        return
    clear_dir(dest)
    staged = PRIVATE + "/x"
    remove(staged)
    os.mkdir(staged, 0o700)
    extract(tar, own, staged)
    src = os.path.join(staged, prefix)
    for e in os.listdir(src):
        os.rename(os.path.join(src, e), os.path.join(dest, e))
    st = os.lstat(src)
    os.chown(dest, st.st_uid, st.st_gid)
    os.chmod(dest, stat.S_IMODE(st.st_mode))
    remove(staged)


def restore_dirs(dirs):
    with tarfile.open(DIRS_TAR) as tar:
        members = tar.getmembers()
        for i, d in enumerate(dirs):
            _unpack_into(tar, members, "d%d" % i, d)


def start_copy(workdir, dirs):
    """A tar of the whole start state (work dir with .git, writable places), so that a new container of the
    same image can be brought to it; only for checkpoints taken after changes to the image's own state."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar_dir(tar, workdir, "w")
        for i, d in enumerate(dirs):
            if _lstat(d) is not None:
                tar_dir(tar, d, "d%d" % i)
            if buf.tell() > START_TAR_MAX:
                return False
    if buf.tell() > START_TAR_MAX:
        return False
    write_private(START_TAR, buf.getvalue())
    return True


def restore_start_copy(workdir, dirs):
    """In a new container: bring the work dir and writable places to the copied start state."""
    with tarfile.open(START_TAR) as tar:
        members = tar.getmembers()
        for prefix, dest in [("w", workdir)] + [("d%d" % i, d) for i, d in enumerate(dirs)]:
            _unpack_into(tar, members, prefix, dest)


