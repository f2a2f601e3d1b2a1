"""The sandbox pool on a Ray cluster: each sandbox lives in a Ray actor on some node, next to its container.

The driver keeps a `RemoteSandbox` (a `Runtime`: run, execute, checkpoint, reset, diff, read/write files; its
methods are generated from the Protocol, each one the actor's generic `call`) and sends it actions; the actor runs them in the container on its own node (that node's Docker engine and
images) and sends back `Observation`s. Nothing else crosses the network.

A dead actor or node is an infrastructure failure: every call on its `RemoteSandbox` raises `SandboxError`
(the agent ends the episode with `sandbox_error` and grading reports `ERROR` with `infra_error`, never a task
failure), its container is removed by a small task on that node, and the pool replaces it on the next acquire.
An actor outlives its sandboxes: once one is closed, the actor (a Python worker process with the project
imported) waits for the next sandbox of any pool of this process; `release_actors()` ends the idle ones.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from srl_agent.errors import ConfigError, SandboxError, SRLError
from srl_agent.sandbox.pool import SandboxPool
from srl_agent.sandbox.runtime import forward_runtime, runtime_attributes

POOL_LABEL = "srl-agent.ray-pool"  # container label: which pool started it (for cleanup and tests)
_init_lock = threading.Lock()
_actor_cls = None


def ensure_ray(address: str | None = None, *, num_cpus: int | None = None) -> None:
    """Connect to the Ray cluster at `address` ("auto", "ray://host:10001", $RAY_ADDRESS) or, with none given
    and none running, start a local one on this machine. Does nothing when Ray is already initialised."""
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray backend needs Ray: pip install 'srl-agent[ray]' (or pip install ray)") from None
    with _init_lock:
        if ray.is_initialized():
            return
        kw: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False,
                              "logging_level": "WARNING", "configure_logging": True}
        address = address or os.environ.get("RAY_ADDRESS") or None
        if address is None:  # a local cluster: no dashboard to start, CPUs enough for the sandboxes asked for
            kw.update(include_dashboard=False, num_cpus=max(os.cpu_count() or 1, num_cpus or 0))
        try:
            ray.init(address=address, **kw)
        except ConnectionError as exc:
            raise ConfigError(f"cannot reach a Ray cluster at {address!r} ({exc}); start one with `ray start "
                              "--head` or check --address") from None


def _sandbox_actor_class():
    """The actor class, made on first use so that importing this module does not import Ray."""
    global _actor_cls
    if _actor_cls is not None:
        return _actor_cls
    import ray

    @ray.remote(max_restarts=0, max_task_retries=0)
    class SandboxActor:
        """Owns one sandbox at a time on the node it runs on; `call` runs one of its methods there. The actor
        outlives its sandboxes: the next one opens in the same worker process, without importing again."""

        def __init__(self) -> None:
            self.sb, self._cm = None, None

        def open(self, make: Callable[[], Any]) -> dict[str, Any]:
            """Open the sandbox `make` gives; its node, container and the Runtime's attributes, for the handle."""
            self.close()
            made = make()
            if hasattr(made, "__enter__") and not hasattr(made, "execute"):  # a context manager (task_sandbox)
                self._cm, made = made, made.__enter__()
            self.sb = made
            names = ("container_id", "image", *runtime_attributes())
            return {"node_id": ray.get_runtime_context().get_node_id(), **{n: getattr(made, n) for n in names}}

        def call(self, method: str, args: tuple, kwargs: dict) -> tuple[bool, Any]:
            # Project errors come back as values, so the driver re-raises exactly the class it knows.
            try:
                return True, getattr(self.sb, method)(*args, **kwargs)
            except SRLError as exc:
                return False, exc

        def grade(self, task, patch, timeout: float):
            """Grade on this node, in a fresh container of the task image (never this actor's sandbox)."""
            from srl_agent.grading import grade_patch
            from srl_agent.sandbox.fresh import StartEachTime

            # nothing pre-started: an actor is killed without its exit hooks, which would leave it behind
            return grade_patch(task, patch, timeout=timeout, pool=StartEachTime())

        def close(self) -> None:
            cm, sb, self._cm, self.sb = self._cm, self.sb, None, None
            if cm is not None:
                cm.__exit__(None, None, None)
            if sb is not None:
                sb.close()

    _actor_cls = SandboxActor
    return _actor_cls


# Idle actors, kept for the next sandbox with the same options (any pool of this process), so that a new task's
# sandbox does not pay for a new worker process and its imports (~1 s). Keyed by Ray job: a new `ray.init`
# starts from none. Idle actors hold no container; they end with the driver, or with `release_actors()`.
_spare: dict[tuple, list] = {}
_spare_lock = threading.Lock()


def _key(options: dict) -> tuple:
    import ray

    return (ray.get_runtime_context().get_job_id(), tuple(sorted((k, repr(v)) for k, v in options.items())))


def _take_actor(options: dict) -> tuple[Any, bool]:
    """(an actor, whether it is a reused idle one)."""
    with _spare_lock:
        spare = _spare.get(_key(options))
        if spare:
            return spare.pop(), True
    return _sandbox_actor_class().options(**options).remote(), False


def _give_back_actor(options: dict, actor) -> None:
    with _spare_lock:
        _spare.setdefault(_key(options), []).append(actor)


def release_actors() -> int:
    """End every idle sandbox actor of this process (they hold Ray CPUs, no containers); returns how many."""
    import ray

    with _spare_lock:
        actors = [a for spare in _spare.values() for a in spare]
        _spare.clear()
    for actor in actors:
        ray.kill(actor, no_restart=True)
    return len(actors)


def _remove_container(container_id: str) -> None:
    from srl_agent.sandbox.container import _remove_ids

    _remove_ids([container_id])


def reap_container(node_id: str, container_id: str, timeout: float = 60.0) -> None:
    """Remove a container whose actor died, from a task pinned to the container's node (best effort: a node
    that is gone took its containers with it; `srl env gc` on the node catches anything left)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    task = ray.remote(num_cpus=0, max_retries=0)(_remove_container)
    ref = task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)).remote(container_id)
    try:
        ray.get(ref, timeout=timeout)
    except Exception:  # noqa: BLE001 - cleanup must never turn an infrastructure failure into a crash
        pass


@forward_runtime  # every Runtime method not written below calls the actor's `call` (self._call)
class RemoteSandbox:
    """The driver's handle on a sandbox in a Ray actor: a `Runtime` (`workdir`, `user`, `home`, `image`,
    `container_id`, `node_id` copied at start). Not shared between threads."""

    workdir: str
    user: str
    home: str

    def __init__(self, make: Callable[[], Any], *, actor_options: dict | None = None) -> None:
        import ray

        self._ray = ray
        self._options = dict(actor_options or {})
        self._closed = False
        while True:  # each idle actor found dead is dropped, so this ends once a fresh actor is tried
            self.actor, reused = _take_actor(self._options)
            self._dead: str | None = None
            try:
                opened = self._get(self.actor.open.remote(make), "start")
                for name, value in opened.items():
                    setattr(self, name, value)
                return
            except SandboxError:
                if self._dead is None:  # the sandbox would not start; the actor is fine for the next one
                    _give_back_actor(self._options, self.actor)
                    raise
                if not reused:
                    raise
                # an idle actor that died (its node went away): start a fresh one
            except BaseException:
                ray.kill(self.actor, no_restart=True)
                raise

    def _get(self, ref, what: str):
        from ray.exceptions import (ActorUnschedulableError, NodeDiedError, ObjectLostError, OutOfMemoryError,
                                    RayActorError, RaySystemError, RayTaskError, WorkerCrashedError)

        try:
            return self._ray.get(ref)
        except RayTaskError as exc:  # the actor's own code failed (e.g. its sandbox would not start)
            cause = exc.cause if isinstance(getattr(exc, "cause", None), SRLError) else None
            if cause is not None:
                raise cause from None
            if what == "start":
                raise SandboxError(f"the Ray sandbox actor could not start its sandbox: {exc}") from None
            raise
        except (RayActorError, ActorUnschedulableError, NodeDiedError, ObjectLostError, OutOfMemoryError,
                RaySystemError, WorkerCrashedError) as exc:  # RayActorError covers ActorDied/ActorUnavailable
            self._mark_dead(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            raise SandboxError(self._dead_message(what)) from None

    def _mark_dead(self, reason: str) -> None:
        if self._dead is not None:
            return
        self._dead = reason
        cid = getattr(self, "container_id", None)
        if cid and getattr(self, "node_id", None):
            reap_container(self.node_id, cid)

    def _dead_message(self, what: str) -> str:
        return (f"infrastructure failure: the Ray actor that owned this sandbox is gone ({self._dead}) during "
                f"{what}; the pool starts a new one for the next episode")

    def _call(self, method: str, *args, **kwargs):
        if self._closed:
            raise SandboxError("this sandbox is closed; start a new one")
        if self._dead is not None:
            raise SandboxError(self._dead_message(method))
        ok, value = self._get(self.actor.call.remote(method, args, kwargs), method)
        if not ok:
            raise value
        return value

    # --- beyond the Runtime: grading on the sandbox's node; liveness and closing that know about the actor ----
    def grade(self, task, patch: str | None, timeout: float = 900.0):
        """`grade_patch` on the node of this sandbox, in a fresh container there (its images are there)."""
        if self._dead is not None:
            raise SandboxError(self._dead_message("grade"))
        return self._get(self.actor.grade.remote(task, patch, timeout), "grade")

    def is_alive(self) -> bool:
        if self._closed or self._dead is not None:
            return False
        try:
            return bool(self._call("is_alive"))
        except SandboxError:
            return False

    def close(self) -> None:
        """Close the sandbox in its actor (removing the container); the actor then serves the next sandbox, or
        ends if it failed (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._dead is None:
            try:
                self._ray.get(self.actor.close.remote(), timeout=120)
                _give_back_actor(self._options, self.actor)
                return
            except Exception:  # noqa: BLE001 - a dying actor: reap its container from its node instead
                self._mark_dead("it failed while closing")
        self._ray.kill(self.actor, no_restart=True)

    def __enter__(self) -> "RemoteSandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _image_sandbox(image: str, sandbox_kwargs: dict) -> Callable[[], Any]:
    def make():
        from srl_agent.sandbox.pool import checkpointed_sandbox

        return checkpointed_sandbox(image, **sandbox_kwargs)

    return make


def _task_sandbox(task, sandbox_kwargs: dict) -> Callable[[], Any]:
    def make():
        from srl_agent.tasks import task_sandbox

        return task_sandbox(task, **sandbox_kwargs)

    return make


def _no_factory():
    raise ConfigError("this RaySandboxPool was made without an image or factory: use pool.task_sandbox(task)")


class RaySandboxPool(SandboxPool):
    """`SandboxPool` whose sandboxes live in Ray actors across a cluster: `with pool.acquire() as sb:`.

    `factory_or_image`: an image name (each node starts `start_sandbox(image, **sandbox_kwargs)`), a picklable
    callable run inside the actor that returns a started, checkpointed Sandbox, or None (task_sandbox only).
    `address`: the Ray cluster (None: $RAY_ADDRESS, else a local cluster). `actor_cpus`: Ray CPUs each sandbox
    reserves, which is how Ray spreads containers over nodes by their size (`scheduling` SPREAD: across nodes
    first). `task_sandbox(task)` gives a task's start state in an actor, for `srl eval --backend ray`.
    """

    def __init__(self, factory_or_image: Callable[[], Any] | str | None, size: int, *, address: str | None = None,
                 actor_cpus: float = 1.0, scheduling: str = "SPREAD", **sandbox_kwargs) -> None:
        if actor_cpus < 0:
            raise ConfigError("actor_cpus must be >= 0")
        ensure_ray(address, num_cpus=int(size * actor_cpus + 0.999))
        self.pool_id = uuid.uuid4().hex[:12]
        self._sandbox_kwargs = dict(sandbox_kwargs)
        self._sandbox_kwargs["labels"] = {**self._sandbox_kwargs.get("labels", {}), POOL_LABEL: self.pool_id}
        self._actor_options = {"num_cpus": actor_cpus, "scheduling_strategy": scheduling}
        if factory_or_image is None:  # a pool for task_sandbox() only
            make = _no_factory
        elif isinstance(factory_or_image, str):
            make = _image_sandbox(factory_or_image, self._sandbox_kwargs)
        else:
            make = factory_or_image
        super().__init__(lambda: RemoteSandbox(make, actor_options=self._actor_options), size)
        self._task_slots = threading.BoundedSemaphore(size)

    @contextmanager
    def task_sandbox(self, task, **sandbox_kwargs) -> Iterator[RemoteSandbox]:
        """A sandbox at `task`'s start state in an actor (what `srl_agent.tasks.task_sandbox` gives locally);
        at most `size` at once. Closed on exit; the task's image is built on that node if it lacks it."""
        kwargs = {**self._sandbox_kwargs, **sandbox_kwargs}
        with self._task_slots:
            with RemoteSandbox(_task_sandbox(task, kwargs), actor_options=self._actor_options) as sb:
                yield sb
