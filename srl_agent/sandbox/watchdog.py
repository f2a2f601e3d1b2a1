"""Disk limit for sandbox containers: a host thread that stops a container whose writable layer grows past it.

overlay2 enforces `--storage-opt size=` only on xfs with project quotas; on other backing file systems (ext4
here) nothing stops a container from filling the host's disk. /tmp and /var/tmp are size-limited tmpfs (see
container.py); everything else the agent can write (work dir, home) lives in the container's overlay upper
dir, which this watchdog measures once a second (a walk of the upper dir from the host when this process may
read /var/lib/docker, else the engine's SizeRw every few seconds). A container past its limit is killed and
the hit is recorded: the sandbox reports it to the agent and starts over at its checkpoint.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)
INTERVAL = 1.0
API_INTERVAL = 5.0


@dataclass
class _Watched:
    limit: int
    upper: str | None = None
    last_api: float = 0.0


_watched: dict[str, _Watched] = {}
_hits: dict[str, str] = {}
_lock = threading.Lock()
_thread: threading.Thread | None = None


def dir_bytes(path: str) -> int:
    """Bytes allocated under path (hard links counted once, links never followed)."""
    total, seen, stack = 0, set(), [path]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for e in entries:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    stack.append(e.path)
                if st.st_nlink > 1:
                    if st.st_ino in seen:
                        continue
                    seen.add(st.st_ino)
                total += st.st_blocks * 512
    return total


def _upper_dir(cid: str) -> str | None:
    from srl_agent.sandbox.container import docker_client

    try:
        info = docker_client().api.inspect_container(cid)
    except Exception:  # noqa: BLE001 - a container that is gone has no size
        return None
    upper = ((info.get("GraphDriver") or {}).get("Data") or {}).get("UpperDir")
    return upper if upper and os.access(upper, os.R_OK | os.X_OK) else None


def layer_bytes(cid: str, w: _Watched | None = None) -> int | None:
    """The container's writable layer size now, or None when it cannot be measured this round."""
    if w is not None and w.upper:
        return dir_bytes(w.upper)
    now = time.monotonic()
    if w is not None and now - w.last_api < API_INTERVAL:
        return None
    if w is not None:
        w.last_api = now
    from srl_agent.sandbox.container import docker_client

    try:
        return int(docker_client().api.inspect_container(cid, size=True).get("SizeRw") or 0)
    except Exception:  # noqa: BLE001
        return None


def check(cid: str) -> str | None:
    """Measure one container now; kill it and return the reason when it is past its limit."""
    with _lock:
        w = _watched.get(cid)
    if w is None:
        return _hits.get(cid)
    size = layer_bytes(cid, w)
    if size is None or size <= w.limit:
        return None
    reason = (f"the container wrote {size / 2 ** 20:.0f} MiB to its disk, over its limit of "
              f"{w.limit / 2 ** 20:.0f} MiB, and was stopped")
    with _lock:
        _hits[cid] = reason
        _watched.pop(cid, None)
    from srl_agent.sandbox.container import docker_client

    try:
        docker_client().api.kill(cid)
    except Exception:  # noqa: BLE001 - already gone
        pass
    log.warning("sandbox %s: %s", cid[:12], reason)
    return reason


def _run() -> None:
    while True:
        time.sleep(INTERVAL)
        with _lock:
            ids = list(_watched)
        for cid in ids:
            try:
                check(cid)
            except Exception as exc:  # noqa: BLE001 - the watchdog must keep watching the others
                log.debug("disk watchdog: %s: %s", cid[:12], exc)


def watch(cid: str, limit: int) -> None:
    global _thread
    w = _Watched(limit, _upper_dir(cid))
    with _lock:
        _watched[cid] = w
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="srl-disk-watchdog", daemon=True)
            _thread.start()


def unwatch(cid: str) -> None:
    with _lock:
        _watched.pop(cid, None)
        _hits.pop(cid, None)


def limit_hit(cid: str) -> str | None:
    with _lock:
        return _hits.get(cid)
