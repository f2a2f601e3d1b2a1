"""The demo's expert stage: pick the bundled trajectories, verify them by replay in their tasks' containers, keep
those that still resolve, and split them into the training and held-out sides.

Verification is the slowest part of a first demo (one container per trajectory, every command and the tests run
again). Its outcome depends only on the trajectories, the task images and the code that replays and grades, so a
verified replay is kept on this machine under a key made of exactly those (the selected file's bytes, the image
ids and a digest of the srl_agent sources): a fresh clone of the same commit on the same machine reuses it, and a
changed trajectory, image or line of code replays again. `srl demo --reverify` ignores the cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Callable

from srl_agent.demo import stages as st

log = logging.getLogger(__name__)
REPLAY_CACHE_SCHEMA = "srl-verified-replay/1"


def bundled_files(ctx: st.Context) -> list[Path]:
    if ctx.trajectories is not None:
        return sorted(ctx.trajectories.glob("*.jsonl")) if ctx.trajectories.is_dir() else [ctx.trajectories]
    return sorted(st.BUNDLED.glob("*.jsonl")) if st.BUNDLED.is_dir() else []


def bundled_digest(ctx: st.Context) -> str:
    h = hashlib.sha256()
    for f in bundled_files(ctx):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:16]


def _round_robin(items: list, key: Callable, n: int | None) -> list:
    """Up to n items taken in turn from each group (package), so a handful still covers every package."""
    if n is None:
        return items
    groups: dict[str, list] = {}
    for it in items:
        groups.setdefault(key(it), []).append(it)
    out: list = []
    while len(out) < n and any(groups.values()):
        for g in list(groups.values()):
            if g and len(out) < n:
                out.append(g.pop(0))
    return out


def _package(instance_id: str) -> str:
    return instance_id.split("__")[0]


def expert_paths(ctx: st.Context) -> dict[str, Path]:
    d = ctx.p("expert")
    return {"selected": d / "selected.jsonl", "replay": d / "replay.jsonl", "verified": d / "verified.jsonl",
            "train": d / "train.jsonl", "heldout": d / "heldout.jsonl"}


def expert_commands(ctx: st.Context) -> list[str]:
    p = expert_paths(ctx)
    if bundled_files(ctx):
        return [f"srl traj replay {ctx.rel(p['selected'])} --tasks {st.SUITE} -o {ctx.rel(p['replay'])} "
                f"--keep-resolved {ctx.rel(p['verified'])} --workers {ctx.plan.workers}"]
    return [f"srl traj generate --tasks {st.SUITE} -o {ctx.rel(p['verified'])} --workers {ctx.plan.workers} "
            f"--instance-ids ID,..."]


# ------------------------------------------------------------------------------------------ verified replays
def replay_cache_root() -> Path:
    from srl_agent.tasks.suite import cache_dir

    return cache_dir() / "verified-replays"


def _source_digest() -> str:
    """Every .py file of the package: replay, sandbox, grading and task code all decide a replay's outcome."""
    h = hashlib.sha256()
    pkg = Path(st.__file__).resolve().parent
    for f in sorted(pkg.rglob("*.py")):
        h.update(str(f.relative_to(pkg)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def replay_key(selected: Path, image_tags: list[str]) -> str:
    h = hashlib.sha256(f"{REPLAY_CACHE_SCHEMA}\n".encode())
    h.update(selected.read_bytes())
    from srl_agent.sandbox.images import image_id

    for tag in sorted(image_tags):
        h.update(f"\n{tag}={image_id(tag) or 'missing'}".encode())
    h.update(_source_digest().encode())
    return h.hexdigest()[:24]


def _cache_get(key: str, replay: Path, verified: Path) -> bool:
    hit = replay_cache_root() / key
    if not ((hit / "replay.jsonl").is_file() and (hit / "verified.jsonl").is_file()):
        return False
    shutil.copyfile(hit / "replay.jsonl", replay)
    shutil.copyfile(hit / "verified.jsonl", verified)
    return True


def _cache_put(key: str, replay: Path, verified: Path) -> None:
    """Copy both outputs in under a temporary name, then rename: a reader sees all of an entry or none."""
    root = replay_cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".{key}.{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        shutil.copyfile(replay, tmp / "replay.jsonl")
        shutil.copyfile(verified, tmp / "verified.jsonl")
        shutil.rmtree(root / key, ignore_errors=True)
        tmp.rename(root / key)
    except OSError as exc:  # a cache that cannot be written costs the next run time, nothing else
        log.warning("could not keep the verified replay in %s (%s); the next demo replays again", root, exc)


def verify_by_replay(ctx: st.Context, p: dict[str, Path]) -> str:
    """Replay `selected` (or reuse this machine's verified replay of the same inputs); returns the source line."""
    for f in (p["replay"], p["verified"]):
        f.unlink(missing_ok=True)
    key = replay_key(p["selected"], st._package_tags())
    if not ctx.facts.get("reverify") and _cache_get(key, p["replay"], p["verified"]):
        line = (f"verified on this machine before (same trajectories, task images and code; cache "
                f"{st.shown_path(replay_cache_root() / key)}): replay skipped, `srl demo --reverify` replays again")
        print(line, flush=True)
        with open(ctx.log, "a", encoding="utf-8") as f:
            f.write(f"\n{line}\n")
        return "bundled, verified by replay (this machine's earlier replay of the same inputs)"
    st.run_srl(ctx, ["traj", "replay", str(p["selected"]), "--tasks", st.SUITE, "-o", str(p["replay"]),
                     "--keep-resolved", str(p["verified"]), "--workers", str(ctx.plan.workers)])
    if p["verified"].is_file() and p["replay"].is_file():
        _cache_put(key, p["replay"], p["verified"])
    return "bundled, verified by replay"


# ------------------------------------------------------------------------------------------------ the stage
def _choose(ctx: st.Context, files: list[Path], split_of: dict[str, str]) -> list:
    from srl_agent.trajectory import read_trajectories

    trajs = [t for f in files for t in read_trajectories(f) if t.task.instance_id in split_of]
    if not trajs:
        raise st.DemoStageError(f"none of the trajectories in {', '.join(map(str, files))} is for a task of "
                                f"{st.SUITE}")
    pkg = lambda t: _package(t.task.instance_id)  # noqa: E731
    return (_round_robin([t for t in trajs if split_of[t.task.instance_id] != "test"], pkg,
                         ctx.plan.train_trajectories)
            + _round_robin([t for t in trajs if split_of[t.task.instance_id] == "test"], pkg,
                           ctx.plan.heldout_trajectories))


def _generate(ctx: st.Context, p: dict[str, Path]) -> int:
    from srl_agent.tasks import load_suite

    tasks = load_suite(st.SUITE)
    ids = (_round_robin([t.instance_id for t in tasks if t.split != "test"], _package, ctx.plan.train_trajectories)
           + _round_robin([t.instance_id for t in tasks if t.split == "test"], _package,
                          ctx.plan.heldout_trajectories))
    rc = st.run_srl(ctx, ["traj", "generate", "--tasks", st.SUITE, "-o", str(p["verified"]), "--workers",
                          str(ctx.plan.workers), "--instance-ids", ",".join(ids)])
    if rc and not p["verified"].is_file():
        raise st.DemoStageError("the scripted expert produced no verified trajectory")
    return len(ids)


def expert_run(ctx: st.Context) -> dict:
    """Verify the bundled trajectories by replaying them in their tasks' containers (a handful in quick mode);
    only those that still resolve are kept. Without bundled trajectories, the scripted expert makes them."""
    from srl_agent.tasks import load_suite
    from srl_agent.trajectory import read_trajectories, write_trajectories

    p = expert_paths(ctx)
    p["selected"].parent.mkdir(parents=True, exist_ok=True)
    split_of = {t.instance_id: t.split for t in load_suite(st.SUITE)}
    files = bundled_files(ctx)
    if files:
        chosen = _choose(ctx, files, split_of)
        write_trajectories(chosen, p["selected"])
        source, given = verify_by_replay(ctx, p), len(chosen)
    else:
        given = _generate(ctx, p)
        source = "generated by the scripted expert (no bundled trajectories found)"
    verified = list(read_trajectories(p["verified"]))
    train = [t for t in verified if split_of[t.task.instance_id] != "test"]
    heldout = [t for t in verified if split_of[t.task.instance_id] == "test"]
    write_trajectories(train, p["train"])
    write_trajectories(heldout, p["heldout"])
    if len(train) <= ctx.plan.val_trajectories:
        raise st.DemoStageError(f"only {len(train)} verified training trajectories; the split needs more than "
                                f"{ctx.plan.val_trajectories} (see {ctx.rel(p['replay'])} for why the others "
                                "failed)")
    return {"source": source, "checked": given, "verified": len(verified), "train": len(train),
            "heldout": len(heldout), "steps": sum(len(t.steps) for t in verified)}


def expert_done(ctx: st.Context) -> bool:
    p = expert_paths(ctx)
    return p["train"].is_file() and p["heldout"].is_file()
