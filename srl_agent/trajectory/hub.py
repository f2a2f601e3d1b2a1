"""Datasets by Hub id, dataset repo folders, parquet shards: rows streamed through `datasets.load_dataset`.

`SWE-bench/SWE-smith-trajectories` (with a split such as `xml`) is streamed from the Hugging Face Hub, so memory
stays at one row whatever the dataset size; with no network the datasets cache is used when it holds the dataset
(offline, not streamed), else the import stops with one line saying how to pass a local copy. The Hub is probed with
one short connection first because `datasets` retries an unreachable Hub for about 25 seconds per call.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import socket
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

from srl_agent.errors import InputError, NetworkError

log = logging.getLogger(__name__)

HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
PROBE_SECONDS = 3.0


def is_hub_id(src: str) -> bool:
    """`owner/name` that is not a path on this machine."""
    return bool(HUB_ID_RE.match(src)) and not Path(src).exists()


def is_dataset_repo(path: Path) -> bool:
    """A folder laid out as a Hub dataset repository: a README whose YAML header declares configs or features."""
    readme = path / "README.md"
    if not readme.is_file():
        return False
    head = readme.read_text(encoding="utf-8", errors="replace")[:20000]
    return head.startswith("---") and bool(re.search(r"^(configs|dataset_info):", head, re.MULTILINE))


def hub_reachable() -> tuple[bool, str]:
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False, "HF_HUB_OFFLINE is set"
    url = urlparse(constants.ENDPOINT)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=PROBE_SECONDS):
            return True, ""
    except OSError as exc:
        return False, f"{host}:{port}: {exc.strerror or exc}"


def _cached(repo_id: str) -> bool:
    import datasets

    ns_name = repo_id.split("/")
    ns_name[-1] = re.sub(r"(?<!^)(?=[A-Z])", "_", ns_name[-1]).lower()  # datasets' camelcase_to_snakecase
    root = Path(os.path.expanduser(str(datasets.config.HF_DATASETS_CACHE))) / "___".join(ns_name)
    return any(Path(p).is_dir() for p in glob.glob(str(root / "*" / "*" / "*")))


@contextlib.contextmanager
def _offline():
    """Offline mode for this call only: both flags are read at call time by `datasets` and `huggingface_hub`."""
    import datasets
    from huggingface_hub import constants

    saved = (datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE)
    datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = saved


def _no_network_message(src: str, why: str, split: str | None) -> str:
    flag = f" --split {split}" if split else ""
    return (f"{src}: the Hugging Face Hub cannot be reached ({why}) and the dataset is not in the local datasets "
            f"cache; on a machine with network run `huggingface-cli download --repo-type dataset {src} --local-dir "
            f"DIR`, then pass DIR{flag} (or one of its parquet shards) instead of the id")


def _load(src: str, split: str | None, *, streaming: bool) -> Any:
    import datasets

    datasets.disable_progress_bars()
    if src.endswith(".py"):
        raise InputError(f"{src}: datasets {datasets.__version__} no longer runs loading scripts; pass the data files "
                         "the script reads (a dataset folder, a parquet or JSON Lines shard)")
    try:
        if src.endswith(".parquet"):  # one shard is one split, whatever the dataset calls it
            return datasets.load_dataset("parquet", data_files=src, split="train", streaming=streaming)
        return datasets.load_dataset(src, split=split, streaming=streaming)
    except InputError:
        raise
    except Exception as exc:  # datasets raises many kinds; all mean "this source cannot be read"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputError(f"{src}: cannot load with datasets.load_dataset ({type(exc).__name__}: {first[:300]})") \
            from None


def open_dataset(src: str, split: str | None) -> Any:
    """A (streaming when possible) Dataset / IterableDataset, or a dict of them by split when no split is given."""
    if is_hub_id(src):
        ok, why = hub_reachable()
        if not ok:
            if not _cached(src):
                raise NetworkError(_no_network_message(src, why, split))
            log.info("%s: the Hub is not reachable (%s); using the cached copy", src, why)
            with _offline():
                return _load(src, split, streaming=False)
    return _load(src, split, streaming=True)


def dataset_rows(src: str, split: str | None) -> Iterator[tuple[str, int, Any]]:
    """(name, row index, row) for every row: `name` is `src[split]`."""
    ds = open_dataset(src, split)
    parts = ds.items() if isinstance(ds, dict) else [(split or "", ds)]
    for name, d in parts:
        label = f"{src}[{name}]" if name and not src.endswith(".parquet") else src
        try:
            for i, row in enumerate(d):
                yield label, i, row
        except (OSError, ValueError, RuntimeError) as exc:  # a dropped connection mid-stream, a damaged shard
            raise InputError(f"{label}: reading stopped ({type(exc).__name__}: {str(exc)[:300]})") from None
