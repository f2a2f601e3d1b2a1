"""Datasets by Hub id and local dataset inputs, all through `datasets.load_dataset`, tested offline on real rows."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from srl_agent.errors import InputError
from srl_agent.trajectory import hub, read_trajectories
from srl_agent.trajectory.importer import import_trajectories

HUB_ID = "SWE-bench/SWE-smith-trajectories"
README = """---
configs:
- config_name: default
  data_files:
  - split: xml
    path: data/xml-*.parquet
---
# SWE-smith trajectories (local copy for a test)
"""


@pytest.fixture()
def rows(corpus) -> list[dict]:
    """The published SWE-smith dataset rows of the corpus (messages as a JSON string, as on the Hub)."""
    return json.loads((corpus / "swe-smith" / "hf_rows_sample.json").read_text())


def _parquet(rows: list[dict], path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.fixture()
def repo(rows, tmp_path) -> Path:
    """A dataset repository folder laid out as on the Hub: README with configs, parquet shards under data/."""
    root = tmp_path / "SWE-smith-trajectories"
    _parquet(rows[:3], root / "data" / "xml-00000-of-00002.parquet")
    _parquet(rows[3:], root / "data" / "xml-00001-of-00002.parquet")
    (root / "README.md").write_text(README)
    return root


@pytest.fixture()
def no_hub(monkeypatch, tmp_path):
    """An unreachable Hub (a closed local port) and an empty datasets cache."""
    import datasets
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def _check(rows, out: Path, label: str) -> None:
    trajs = list(read_trajectories(out))
    assert [t.task.instance_id for t in trajs] == [r["instance_id"] for r in rows]
    assert {t.source.format for t in trajs} == {"swe-smith"} and all(t.resolved is True for t in trajs)
    assert {t.source.file for t in trajs} == {label} and [t.source.index for t in trajs] == list(range(len(rows)))


def test_local_dataset_repo_folder_with_a_split(rows, repo, tmp_path, no_hub):
    out = tmp_path / "out.jsonl"
    s = import_trajectories([str(repo)], out, split="xml", workers=1)
    assert (s.accepted, s.rejected) == (len(rows), 0)
    _check(rows, out, f"{repo}[xml]")


def test_local_dataset_repo_folder_without_a_split_reads_every_split(rows, repo, tmp_path, no_hub):
    out = tmp_path / "out.jsonl"
    assert import_trajectories([str(repo)], out, workers=1).accepted == len(rows)
    _check(rows, out, f"{repo}[xml]")


def test_parquet_shard_is_streamed(rows, tmp_path, no_hub):
    shard = _parquet(rows, tmp_path / "xml-00000-of-00001.parquet")
    for split in (None, "xml"):
        out = tmp_path / f"out-{split}.jsonl"
        assert import_trajectories([str(shard)], out, split=split, workers=1).accepted == len(rows)
        _check(rows, out, str(shard))


def test_hub_id_without_network_fails_fast_in_one_line(no_hub):
    from srl_agent.errors import NetworkError  # a failure (exit 1), not a usage error

    t0 = time.perf_counter()
    with pytest.raises(NetworkError) as exc:
        list(hub.dataset_rows(HUB_ID, "xml"))
    assert time.perf_counter() - t0 < 10  # not datasets' ~25 s of retries
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{HUB_ID}: the Hugging Face Hub cannot be reached (127.0.0.1:9")
    assert f"huggingface-cli download --repo-type dataset {HUB_ID} --local-dir DIR" in msg and "--split xml" in msg


def test_cli_import_of_a_hub_id_offline_is_one_error_line(no_hub, tmp_path, capsys):
    from srl_agent.cli import main

    assert main(["traj", "import", HUB_ID, "--split", "xml", "-o", str(tmp_path / "o.jsonl"), "--workers", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "cannot be reached" in err


def test_hub_id_streams_through_load_dataset_when_the_hub_is_reachable(rows, repo, tmp_path, monkeypatch):
    """The network path (not reachable here): the id and split go to load_dataset, streaming."""
    import datasets

    real_load, calls = datasets.load_dataset, []

    def load(path, *args, **kw):
        calls.append((path, kw))
        return real_load(str(repo), *args, **kw)  # the same rows, from the local copy

    monkeypatch.setattr(hub, "hub_reachable", lambda: (True, ""))
    monkeypatch.setattr(datasets, "load_dataset", load)
    out = tmp_path / "out.jsonl"
    assert import_trajectories([HUB_ID], out, split="xml", workers=1).accepted == len(rows)
    assert calls == [(HUB_ID, {"split": "xml", "streaming": True})]
    _check(rows, out, f"{HUB_ID}[xml]")


def test_hub_id_offline_uses_the_cache_in_offline_mode(rows, repo, tmp_path, monkeypatch, no_hub):
    import datasets
    from huggingface_hub import constants

    real_load, seen = datasets.load_dataset, []

    def load(path, *args, **kw):
        seen.append((kw, datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE))
        return real_load(str(repo), *args, **{**kw, "streaming": True})

    before = (datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE)
    monkeypatch.setattr(hub, "_cached", lambda repo_id: True)
    monkeypatch.setattr(datasets, "load_dataset", load)
    assert len(list(hub.dataset_rows(HUB_ID, "xml"))) == len(rows)
    assert seen == [({"split": "xml", "streaming": False}, True, True)]
    assert (datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE) == before


def test_load_dataset_script_is_refused_with_what_to_pass_instead(tmp_path):
    script = tmp_path / "swe_smith.py"
    script.write_text("import datasets\n")
    with pytest.raises(InputError) as exc:
        import_trajectories([str(script)], tmp_path / "o.jsonl", workers=1)
    assert "no longer runs loading scripts" in str(exc.value) and "\n" not in str(exc.value)


def test_a_missing_path_that_is_not_an_id_says_so(tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        import_trajectories([str(tmp_path / "nope.jsonl")], tmp_path / "o.jsonl", workers=1)
