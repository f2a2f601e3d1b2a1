"""Published rows (SWE-bench classic and 5.x, SWE-Gym, SWE-smith) go from file to Task to swebench test spec to a
clear image message, offline."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from swebench.task.checks import expected_image
from swebench.task.repo import load_task_repo

from srl_agent.errors import InputError
from srl_agent.task import Task
from srl_agent import task_rows as rows_mod
from srl_agent.task_rows import eval_command, reverse_patch
from srl_agent.tasks.rows import load_tasks, read_rows
from srl_agent.tasks.swebench import MissingImagesError, ensure_images, swebench_spec

FIX = Path(__file__).parent / "fixtures"
LITE = FIX / "swe-bench" / "swe-bench-lite-test.json"
SMITH = FIX / "swe-smith" / "pandas-dev__pandas.95280573.pr_53652.json"
TASK_REPO = FIX / "swebench-task-repo"


def test_fixtures_are_the_published_bytes_named_in_the_manifest():
    """Every fixture is a copy whose sha256 the manifest records with its source repository, commit and path."""
    lines = (FIX / "MANIFEST.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["source", "commit", "source_path", "path", "sha256"]
    for line in lines[1:]:
        source, commit, _src, path, sha = line.split("\t")
        assert source.startswith("github:") and len(commit) == 40
        assert hashlib.sha256((FIX / path).read_bytes()).hexdigest() == sha, path


def test_classic_swebench_rows_load_unchanged_with_swebench_image_names():
    raw = json.loads(LITE.read_text())
    tasks = [Task.from_row(r) for r in raw]
    # the Hub's own form: the test lists as JSON strings
    hub = [Task.from_row({**r, "FAIL_TO_PASS": json.dumps(r["FAIL_TO_PASS"]),
                          "PASS_TO_PASS": json.dumps(r["PASS_TO_PASS"])}) for r in raw]
    assert [t.instance_id for t in tasks] == [r["instance_id"] for r in raw]
    for t, h, r in zip(tasks, hub, raw):
        assert t.fail_to_pass == h.fail_to_pass == r["FAIL_TO_PASS"] and t.pass_to_pass == h.pass_to_pass
        assert t.gold_patch == r["patch"] and t.test_patch == r["test_patch"] and t.base_commit == r["base_commit"]
        assert t.image == expected_image(t.instance_id) and t.extra["image_source"] == "swe-bench naming convention"
        assert t.extra["hints_text"] == r["hints_text"] and t.extra["dataset"] == "swe-bench"
    assert tasks[0].image == "swebench/sweb.eval.x86_64.django_1776_django-16255:latest"


def test_a_classic_pytest_row_gets_a_swebench_test_spec_and_a_django_row_a_clear_refusal():
    tasks = {t.instance_id: t for t in load_tasks(LITE)}
    spec = swebench_spec(tasks["pytest-dev__pytest-11143"])
    assert spec.log_parser == "parse_log_pytest" and spec.eval_type == "pass_and_fail"
    script = spec.eval_script
    assert ">>>>> Start Test Output" in script and ">>>>> End Test Output" in script
    assert "git checkout HEAD -- testing/test_assertrewrite.py" in script
    assert "conda activate testbed" in script and "pytest --no-header -rA" in script
    assert tasks["pytest-dev__pytest-11143"].test_patch.splitlines()[0] in script  # the test patch goes in too
    with pytest.raises(InputError, match="not pytest node ids.*eval_script"):
        swebench_spec(tasks["django__django-16255"])


def test_swegym_rows_take_swegym_image_names():
    t = load_tasks(LITE, dataset="swe-gym")[2]
    assert t.image == "xingyaoww/sweb.eval.x86_64.pytest-dev_s_pytest-11143:latest"
    assert t.extra["dataset"] == "swe-gym"


def test_a_swesmith_row_keeps_its_image_and_its_patch_is_the_bug():
    raw = json.loads(SMITH.read_text())
    t = Task.from_row(raw)
    assert t.extra["dataset"] == "swe-smith" and t.image == raw["image_name"]
    assert t.extra["image_published"] == "jyangballin/swesmith.x86_64.pandas-dev_1776_pandas.95280573"
    assert t.extra["bug_patch"] == raw["patch"] and t.gold_patch == reverse_patch(raw["patch"])
    assert reverse_patch(t.gold_patch) == raw["patch"]
    assert t.fail_to_pass == raw["FAIL_TO_PASS"] and "pandas/tests/indexing/test_datetime.py" in t.test_command


def test_reverse_patch_undoes_the_patch_with_git(tmp_path):
    """The reversed diff applied forward restores the original tree (as `git apply -R` would)."""
    def git(*a):
        return subprocess.run(["git", "-C", str(tmp_path), *a], check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    (tmp_path / "a.py").write_text("def f(x):\n    return x + 1\n\n\nprint(f(2))\n")
    (tmp_path / "gone.py").write_text("old = 1\n")
    git("add", "-A")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "start")
    (tmp_path / "a.py").write_text("def f(x):\n    return x - 1\n\n\nprint(f(3))\n")
    (tmp_path / "gone.py").unlink()
    (tmp_path / "new.py").write_text("new = 2\n")
    git("add", "-A")
    patch = git("diff", "--cached")
    rev = tmp_path.parent / f"{tmp_path.name}.r.patch"
    rev.write_text(reverse_patch(patch))
    git("apply", "--index", str(rev))
    assert git("status", "--porcelain").strip() == ""
    assert (tmp_path / "gone.py").read_text() == "old = 1\n" and not (tmp_path / "new.py").exists()


def test_a_swebench_5x_task_repo_loads_through_swebench_and_keeps_its_eval_script():
    (inst,) = load_task_repo(TASK_REPO)  # swebench's own reader of the published layout
    t = Task.from_row(inst)
    assert t.eval_script == (TASK_REPO / "tasks" / t.instance_id / "eval.sh").read_text()
    assert t.image == inst["image"] and t.log_parser == "parse_log_carbon" and t.eval_type == "pass_and_fail"
    assert t.test_command == ("cd /testbed && source $NVM_DIR/nvm.sh && "
                              "{ yarn test --maxWorkers=4 packages/react/src/components/DataTable/; }")
    spec = swebench_spec(t)
    assert spec.image == inst["image"] and spec.FAIL_TO_PASS == inst["FAIL_TO_PASS"]
    assert "git apply -v - <<'EOF_114329324912'" in spec.eval_script  # the row's script, as published
    assert "SWEBENCH_TEST_EXIT_CODE=$?" in spec.eval_script  # swebench's own rewriting of it
    assert [r["instance_id"] for r in read_rows(TASK_REPO)] == [t.instance_id]


def test_eval_command_needs_the_markers():
    assert eval_command("cd /x\nexport A=1\ngit status\n: '>>>>> Start Test Output'\nrun\n: '>>>>> End Test "
                           "Output'\n") == "cd /x && export A=1 && { run; }"
    with pytest.raises(InputError, match="no command between"):
        eval_command("cd /x\nrun\n")


def test_bad_rows_are_counted_and_the_rest_load(tmp_path):
    raw = json.loads(LITE.read_text())
    bad = dict(raw[1], FAIL_TO_PASS="[not json")
    f = tmp_path / "rows.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in [raw[0], bad, {"repo": "x/y"}, raw[2]]) + "\n")
    rejected: list[str] = []
    tasks = load_tasks(f, rejected=rejected)
    assert [t.instance_id for t in tasks] == [raw[0]["instance_id"], raw[2]["instance_id"]]
    assert len(rejected) == 2 and "record #2 (sympy__sympy-13031)" in rejected[0] and "FAIL_TO_PASS" in rejected[0]
    assert "record #3 (?)" in rejected[1] and "instance_id" in rejected[1]
    with pytest.raises(InputError, match="no task loaded"):
        load_tasks(_write(tmp_path / "none.jsonl", [{"repo": "x"}, {"instance_id": 3}]))


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_missing_images_end_in_one_error_listing_every_one_and_how_to_get_it(monkeypatch):
    """Offline: one message names every missing image (deduplicated) with `docker pull` and `docker load`."""
    tasks = load_tasks(LITE) + load_tasks(SMITH)
    pulled: list[str] = []
    monkeypatch.setattr("srl_agent.tasks.swebench.image_present", lambda name: False)
    monkeypatch.setattr("srl_agent.tasks.swebench._pull", lambda name: pulled.append(name) or False)
    with pytest.raises(MissingImagesError) as err:
        ensure_images(tasks + tasks[:2], pull=True)
    msg = str(err.value)
    assert msg.startswith("6 task image(s) are not on this machine and pulling them failed")
    for t in tasks:
        assert (t.extra.get("image_published") or t.image) in msg
    assert "docker load -i image.tar" in msg and "docker pull IMAGE" in msg
    # one pull per distinct image; SWE-smith's published name is the one a registry has
    assert len(pulled) == 7 and "jyangballin/swesmith.x86_64.pandas-dev_1776_pandas.95280573" in pulled
    with pytest.raises(MissingImagesError, match="pulling is off"):
        ensure_images(tasks, pull=False)


def test_present_images_are_used_and_bundled_tasks_skipped(monkeypatch):
    from srl_agent.tasks import load_suite

    smith = load_tasks(SMITH)[0]
    monkeypatch.setattr("srl_agent.tasks.swebench.image_present", lambda name: name == smith.extra["image_published"])
    bundled = load_suite("pypi-mutants")[:2]
    assert ensure_images([smith, *bundled], pull=False) == {smith.instance_id: smith.extra["image_published"]}


@pytest.mark.docker
def test_missing_image_message_from_the_real_engine(docker_engine):
    """With the real engine and pulls off, a published row's image is reported missing by name."""
    with pytest.raises(MissingImagesError, match=r"sweb\.eval\.x86_64\.pytest-dev_1776_pytest-11143"):
        ensure_images(load_tasks(LITE), pull=False)


def test_tasks_show_prints_image_status_and_test_spec_of_a_published_row(capsys, monkeypatch):
    from srl_agent.cli import main

    monkeypatch.setattr("srl_agent.tasks.swebench.image_present", lambda name: False)
    assert main(["tasks", "show", "pytest-dev__pytest-11143", "--suite", str(LITE)]) == 0
    out = capsys.readouterr().out
    assert "image: swebench/sweb.eval.x86_64.pytest-dev_1776_pytest-11143:latest" in out
    assert "NOT on this machine" in out and "docker load -i" in out
    assert "test spec (swebench make_test_spec): log_parser parse_log_pytest, eval_type pass_and_fail" in out
    assert main(["tasks", "show", "carbon-design-system__carbon-4891", "--suite", str(TASK_REPO),
                 "--eval-script"]) == 0
    out = capsys.readouterr().out
    assert "(the row's own)" in out and "EOF_114329324912" in out


def test_unknown_dataset_is_refused():
    with pytest.raises(InputError, match="unknown dataset 'swe-x'"):
        Task.from_row(json.loads(LITE.read_text())[0], dataset="swe-x")
    assert rows_mod.detect_dataset({"repo": "swesmith/a__b.1"}) == "swe-smith"


def test_export_names_each_start_state_image(tmp_path, monkeypatch):
    """A classic row exports with its own image; a SWE-smith row with its image plus the bug layered in."""
    from srl_agent.tasks.swebench import export_instances

    layered = []
    monkeypatch.setattr("srl_agent.tasks.swebench.build_bug_layer",
                        lambda base, bug, iid, workdir: layered.append((base, iid)) or f"start/{iid}")
    classic, smith = load_tasks(LITE)[2], load_tasks(SMITH)[0]
    assert export_instances([classic, smith], tmp_path / "i.jsonl") == 2
    rows = [json.loads(line) for line in (tmp_path / "i.jsonl").read_text().splitlines()]
    assert rows[0]["image"] == classic.image and rows[1]["image"] == f"start/{smith.instance_id}"
    assert layered == [(smith.image, smith.instance_id)]
    assert rows[1]["patch"] == smith.gold_patch and rows[0]["FAIL_TO_PASS"] == classic.fail_to_pass


def test_a_hugging_face_id_offline_says_how_to_bring_the_rows(monkeypatch):
    def offline(name, **kw):  # what datasets raises with no hub (OfflineModeIsEnabled is a ConnectionError)
        raise ConnectionError(f"Couldn't reach {name!r} on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr("datasets.load_dataset", offline)
    with pytest.raises(InputError, match=r"could not load 'SWE-bench/SWE-bench_Verified'.*to_json"):
        load_tasks("SWE-bench/SWE-bench_Verified")
    with pytest.raises(InputError, match="no task suite or task rows"):
        read_rows("no/such/place/here")
