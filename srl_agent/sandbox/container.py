"""Where commands run: one labelled, resource-limited container (start, exec, files, stop, is_alive) and the
cleanup that cannot be forgotten (a registry of live containers, an atexit hook, SIGINT/SIGTERM, `gc`)."""

from __future__ import annotations

import atexit
import io
import os
import re
import signal
import tarfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from srl_agent.errors import DockerUnavailableError, SandboxError
from srl_agent.runner import on_stop_now

LABEL = "srl-agent"  # every container we start carries `srl-agent=1`; `srl env gc` removes them all
TOOLS_DIR = "/usr/local/lib/srl-agent"  # root-owned 0755: the agent can read the tools, never change them
_TOOL_FILES = ("supervisor.py", "agentops.py", "shell.py", "procs.py", "fsutil.py", "snapshot.py", "gitstate.py",
               "editor.py")
# What the root supervisor needs and nothing more (found by removing one at a time: see docs/sandbox.md):
# kill the agent's processes, drop to its uid/gid, restore owners, modes and files it closed off.
CAPABILITIES = ("KILL", "SETUID", "SETGID", "CHOWN", "DAC_OVERRIDE", "FOWNER")

_client = None
_client_lock = threading.Lock()


def docker_client():
    """One shared Docker SDK client (its HTTP pool is thread-safe); a clear error when no engine answers."""
    global _client
    with _client_lock:
        if _client is None:
            import docker

            try:
                client = docker.from_env(timeout=120, max_pool_size=64)  # pools and benchmarks run many threads
                client.ping()
            except Exception as exc:  # docker raises several unrelated types for "no engine"
                raise DockerUnavailableError(
                    f"no Docker engine answers ({exc}); run `srl env setup` (or `make setup`)") from None
            _client = client
        return _client


@dataclass(frozen=True)
class ContainerSpec:
    """How to start a sandbox container: the image and its limits. Defaults are the safe ones."""

    image: str
    memory: str = "2g"
    cpus: float = 1.0
    pids_limit: int = 512
    network: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    disk: str | None = "2g"  # the writable layer (work dir, home, ...): the watchdog stops a container past it
    tmp_size: str = "1g"  # /tmp and /var/tmp are tmpfs of this size (counted in `memory` as well)
    runtime: str | None = None  # e.g. "runsc" (gVisor) for a kernel of its own, where the engine has it


class Container:
    """A started container whose PID 1 is an init that reaps orphans and sleeps; work happens in exec'd processes."""

    def __init__(self, container_id: str, spec: ContainerSpec):
        self.id = container_id
        self.spec = spec

    @classmethod
    def start(cls, spec: ContainerSpec) -> "Container":
        import docker

        api = docker_client().api
        tmpfs = f"rw,exec,nosuid,nodev,size={spec.tmp_size},mode=1777"
        host_config = api.create_host_config(
            mem_limit=spec.memory, memswap_limit=spec.memory, nano_cpus=int(spec.cpus * 1e9),
            pids_limit=spec.pids_limit, network_mode="bridge" if spec.network else "none", init=True,
            security_opt=["no-new-privileges"], cap_drop=["ALL"], cap_add=list(CAPABILITIES),
            tmpfs={"/tmp": tmpfs, "/var/tmp": tmpfs, "/run/srl-agent": "rw,noexec,nosuid,nodev,size=64m,mode=0755"},
            runtime=spec.runtime,
        )
        labels = {LABEL: "1", f"{LABEL}.pid": str(os.getpid()), **spec.labels}
        try:
            created = api.create_container(spec.image, command=["sleep", "infinity"], labels=labels,
                                           host_config=host_config, environment=spec.env or None, user="root",
                                           network_disabled=not spec.network)
        except docker.errors.ImageNotFound:
            raise SandboxError(f"image {spec.image!r} not found: build it first (`srl env setup` builds the "
                               "base image)") from None
        except docker.errors.APIError as exc:
            raise SandboxError(f"could not create a container from {spec.image!r}: {exc.explanation}") from None
        container = cls(created["Id"], spec)
        _register(container)
        try:
            api.start(container.id)
            container.put_files(TOOLS_DIR, {name: (Path(__file__).parent / "incontainer" / name).read_bytes()
                                            for name in _TOOL_FILES})
            if spec.disk:
                from srl_agent.sandbox.watchdog import watch

                watch(container.id, parse_size(spec.disk))
        except Exception:
            container.remove()
            raise
        return container

    def exec(self, cmd: list[str], *, user: str = "root", workdir: str | None = None) -> tuple[int, bytes]:
        """Run one process to completion (a fresh `docker exec`: ~50 ms; used only outside the hot path)."""
        api = docker_client().api
        try:
            ex = api.exec_create(self.id, cmd, user=user, workdir=workdir, stdout=True, stderr=True)
            output = api.exec_start(ex["Id"])
            return api.exec_inspect(ex["Id"]).get("ExitCode") or 0, output
        except Exception as exc:
            raise SandboxError(f"docker exec in {self.id[:12]} failed: {exc}") from None

    def open_exec_socket(self, cmd: list[str], *, user: str, workdir: str | None = None):
        """Start an interactive exec and return (exec_id, raw socket): stdin in, multiplexed output frames out."""
        api = docker_client().api
        ex = api.exec_create(self.id, cmd, user=user, workdir=workdir, stdin=True, stdout=True, stderr=True)
        sock = api.exec_start(ex["Id"], socket=True)
        return ex["Id"], getattr(sock, "_sock", sock)

    def exec_exit_code(self, exec_id: str) -> int | None:
        try:
            info = docker_client().api.exec_inspect(exec_id)
        except Exception:
            return None
        return None if info.get("Running") else info.get("ExitCode")

    def put_files(self, directory: str, files: dict[str, bytes], mode: int = 0o644, dir_mode: int = 0o755) -> None:
        """Copy files into a directory of the container (created if missing, root-owned, `dir_mode`; its parents
        0755) through the archive API."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            parts = [p for p in directory.strip("/").split("/") if p]
            for i in range(1, len(parts) + 1):
                info = tarfile.TarInfo("/".join(parts[:i]))
                info.type, info.mode = tarfile.DIRTYPE, (dir_mode if i == len(parts) else 0o755)
                tar.addfile(info)
            for name, data in files.items():
                info = tarfile.TarInfo("/".join([*parts, name]))
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
        if not docker_client().api.put_archive(self.id, "/", buf.getvalue()):
            raise SandboxError(f"could not copy files into {self.id[:12]}:{directory}")

    def read_text(self, path: str) -> str | None:
        """A small file's text through the archive API (no exec), or None when it does not exist."""
        import docker

        try:
            stream, _ = docker_client().api.get_archive(self.id, path)
            data = b"".join(stream)
        except docker.errors.NotFound:
            return None
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.next()
            f = tar.extractfile(member) if member else None
            return f.read().decode("utf-8", "replace") if f else None

    def image_env(self) -> list[str]:
        """The container's environment as the image and spec set it (`K=V` strings)."""
        try:
            return list(docker_client().api.inspect_container(self.id)["Config"].get("Env") or [])
        except Exception as exc:
            raise SandboxError(f"could not inspect container {self.id[:12]}: {exc}") from None

    def is_alive(self) -> bool:
        try:
            return bool(docker_client().api.inspect_container(self.id)["State"]["Running"])
        except Exception:
            return False

    def restart(self) -> None:
        """Kill every process (PID 1 included) and start again; the file system is kept."""
        try:
            docker_client().api.restart(self.id, timeout=0)
        except Exception as exc:
            raise SandboxError(f"could not restart container {self.id[:12]}: {exc}") from None

    def remove(self) -> None:
        _unregister(self.id)
        from srl_agent.sandbox.watchdog import unwatch

        unwatch(self.id)
        _remove_ids([self.id])

    def get_file(self, path: str, limit: int) -> bytes | None:
        """A regular file's bytes through the archive API (works on a stopped container), or None."""
        import docker

        try:
            stream, st = docker_client().api.get_archive(self.id, path)
        except docker.errors.NotFound:
            return None
        if st.get("size", 0) > limit:
            raise SandboxError(f"{path} in {self.id[:12]} is over {limit >> 20} MiB")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.next()
            f = tar.extractfile(member) if member else None
            return f.read() if f else None


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str | int) -> int:
    """Docker-style sizes: 512m, 2g, 1.5GiB, 100000 (bytes)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text).lower())
    if not m:
        raise SandboxError(f"not a size: {text!r} (write e.g. 512m or 2g)")
    return int(float(m[1]) * _UNITS[m[2]])


# --- cleanup that cannot be forgotten -------------------------------------------------------------------------

_live: dict[str, Container] = {}
_live_lock = threading.RLock()  # re-entrant: the signal handler may run while the main thread holds it
_hooks_installed = False


def _register(container: Container) -> None:
    global _hooks_installed
    with _live_lock:
        _live[container.id] = container
        if not _hooks_installed:
            _hooks_installed = True
            atexit.register(remove_all_started)
            on_stop_now(remove_all_started)  # a second Ctrl-C exits without atexit
            _install_signal_handlers()


def _unregister(container_id: str) -> None:
    with _live_lock:
        _live.pop(container_id, None)


def _remove_ids(ids: list[str]) -> None:
    import docker

    def rm(cid: str) -> None:
        try:
            docker_client().api.remove_container(cid, force=True)
        except docker.errors.NotFound:
            pass
        except Exception:  # best effort at exit; `srl env gc` catches what is left
            pass

    if len(ids) > 1:
        try:
            with ThreadPoolExecutor(max_workers=min(16, len(ids))) as ex:
                list(ex.map(rm, ids))
            return
        except RuntimeError:  # Python >= 3.12 refuses new threads in atexit hooks: remove one by one
            pass
    for cid in ids:
        rm(cid)


def remove_all_started() -> int:
    """Remove every container this process started and has not removed yet (the atexit / signal hook)."""
    with _live_lock:
        ids = list(_live)
        _live.clear()
    _remove_ids(ids)
    return len(ids)


def _install_signal_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread; atexit still covers normal exits
    from srl_agent.runner import is_graceful

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        if previous is signal.SIG_IGN or previous is None or is_graceful(previous):
            continue  # a graceful Ctrl-C keeps the running containers; its second SIGINT removes them

        def handler(sig, frame, previous=previous):
            remove_all_started()
            if callable(previous):
                previous(sig, frame)
            elif sig == signal.SIGINT:
                raise KeyboardInterrupt
            else:
                raise SystemExit(128 + sig)

        try:
            signal.signal(signum, handler)
        except ValueError:
            return


def list_containers(labels: dict[str, str] | None = None) -> list[str]:
    """Ids of the project's containers (running or not), optionally only those with these extra labels."""
    wanted = [f"{LABEL}=1", *(f"{k}={v}" for k, v in (labels or {}).items())]
    return [c["Id"] for c in docker_client().api.containers(all=True, filters={"label": wanted})]


def gc(labels: dict[str, str] | None = None) -> list[str]:
    """Remove every container that carries the project label (any process, running or not), or only those
    that also carry `labels`; return their ids."""
    ids = list_containers(labels)
    _remove_ids(ids)
    with _live_lock:
        for cid in ids:
            _live.pop(cid, None)
    return ids
