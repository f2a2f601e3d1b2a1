"""The protocol's data: train-package trajectories split into selection (2 per package) and training, held-out
packages' trajectories as the held-out step set and agent tasks, and per-seed training orders."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SELECTION_PER_PACKAGE = 2


@dataclass(frozen=True)
class EvidenceData:
    """Where the prepared data lives under <out>/data, and the ids of each part."""

    root: Path
    selection_ids: list[str]
    training_ids: list[str]
    heldout_ids: list[str]

    @property
    def training_steps(self) -> Path:
        return self.root / "steps-training"

    @property
    def selection_steps(self) -> Path:
        return self.root / "steps-selection"

    @property
    def heldout_steps(self) -> Path:
        return self.root / "steps-heldout"

    @property
    def heldout_trajectories(self) -> Path:
        return self.root / "heldout.jsonl"

    def seed_order(self, seed: int) -> Path:
        """The training step examples in seed's order (the same file for SFT and SRL of one seed)."""
        return self.root / f"steps-training-seed{seed}"


def split_ids(trajs, train_ids: set[str], test_ids: set[str]) -> tuple[list[str], list[str], list[str]]:
    """(selection, training, held-out) instance ids: of each train package the 2 ids that sort first select."""
    by_repo: dict[str, list[str]] = {}
    for t in trajs:
        if t.task.instance_id in train_ids:
            by_repo.setdefault(t.task.repo, []).append(t.task.instance_id)
    selection = sorted(i for ids in by_repo.values() for i in sorted(ids)[:SELECTION_PER_PACKAGE])
    training = sorted(i for ids in by_repo.values() for i in sorted(ids)[SELECTION_PER_PACKAGE:])
    heldout = sorted(t.task.instance_id for t in trajs if t.task.instance_id in test_ids)
    return selection, training, heldout


def _split(trajs, ids: list[str], name: str, root: Path) -> Path:
    from srl_agent.trajectory import write_trajectories
    from srl_agent.trajectory.split import SplitConfig, split_trajectories

    wanted = set(ids)
    path = root / f"{name}.jsonl"
    write_trajectories([t for t in trajs if t.task.instance_id in wanted], path)
    out = root / f"steps-{name}"
    split_trajectories(path, out, SplitConfig(workers=1))  # `srl traj split` defaults: K = 2, thoughts hidden
    return out


def load_data(out: Path) -> EvidenceData | None:
    """The data an earlier `prepare_data` wrote under <out>/data, or None."""
    index = out / "data" / "index.json"
    if not index.is_file():
        return None
    ids = json.loads(index.read_text())
    return EvidenceData(out / "data", ids["selection"], ids["training"], ids["heldout"])


def prepare_data(out: Path, trajectory_file: Path, suite: str = "pypi-mutants", quick: bool = False) -> EvidenceData:
    """Write the three step sets once (reused by later runs: the rerun of an interrupted experiment)."""
    from srl_agent.tasks import load_suite
    from srl_agent.trajectory import read_trajectories

    done = load_data(out)
    if done is not None:
        return done
    root, index = out / "data", out / "data" / "index.json"
    train_ids = {t.instance_id for t in load_suite(suite, "train")}
    test_ids = {t.instance_id for t in load_suite(suite, "test")}
    trajs = [t for t in read_trajectories(trajectory_file) if t.resolved]
    selection, training, heldout = split_ids(trajs, train_ids, test_ids)
    if quick:  # the same code on a few: 1 selection and 2 training trajectories, 2 held-out ones
        selection, training, heldout = selection[:1], training[:2], heldout[::max(1, len(heldout) // 2)][:2]
    if not (selection and training and heldout):
        from srl_agent.errors import InputError

        raise InputError(f"{trajectory_file}: needs resolved trajectories of both the train and the test split "
                         f"of suite {suite}")
    root.mkdir(parents=True, exist_ok=True)
    for name, ids in (("selection", selection), ("training", training), ("heldout", heldout)):
        _split(trajs, ids, name, root)
    index.write_text(json.dumps({"selection": selection, "training": training, "heldout": heldout}, indent=1))
    return EvidenceData(root, selection, training, heldout)


def seed_order(data: EvidenceData, seed: int) -> Path:
    """Shuffle the training step examples with `seed` once; both trainers then read them in this order."""
    from datasets import DatasetDict, load_from_disk

    path = data.seed_order(seed)
    if not (path / "dataset_dict.json").is_file():
        train = load_from_disk(str(data.training_steps))["train"].shuffle(seed=seed)
        tmp = path.with_name(path.name + ".tmp")
        DatasetDict({"train": train.flatten_indices()}).save_to_disk(str(tmp))
        tmp.rename(path)
    return path


def load_rows(steps_dir: Path, limit: int | None = None) -> dict:
    """The step examples of a saved split as columns (prompt, expert_action, ...)."""
    from datasets import load_from_disk

    ds = load_from_disk(str(steps_dir))["train"]
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    return ds[:]


def expert_prefixes(data: EvidenceData, k: int) -> dict:
    """instance id -> the expert's first N - k steps of its held-out trajectory."""
    from srl_agent.trajectory import read_trajectories

    return {t.task.instance_id: t.steps[:max(0, len(t.steps) - k)]
            for t in read_trajectories(data.heldout_trajectories)}
