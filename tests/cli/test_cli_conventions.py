"""The conventions of issue 16 through the real `srl`: `-c key=value` typed by the config's fields, `--report-to`,
a model card that names the base model, method and data, quiet third-party logs (`-v` brings them back), progress
lines when stderr is a log file, closed pipes, one way to name tasks with a split."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clitools import srl_command

from srl_agent.cli import main

REPO = Path(__file__).resolve().parents[2]


def _srl(*argv: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(srl_command() + list(argv), capture_output=True, text=True, timeout=timeout,
                          env=os.environ | (env or {}))


# ------------------------------------------------------------------------------------------- training config
def test_yaml_and_c_overrides_are_typed_by_the_config_fields(world, tmp_path):
    """YAML 1.1 reads `learning_rate: 1e-5` as a string (then a TypeError deep in TRL): it must be a float, and
    so must `-c` values; nested keys merge into the file's mapping; flags win over -c."""
    proc = _srl("train", "--print-config", "--data", world["steps"], "-o", str(tmp_path / "run"),
                "--config", world["lr_yaml"], "-c", "dynamic_sampling.epsilon=0.01", "-c", "trl.loss_type=dr_grpo",
                "-c", "lora.r=8", "-c", "bf16=no", "-c", "max_steps=7", "--max-steps", "3", "--report-to", "none")
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads(proc.stdout)
    assert cfg["learning_rate"] == 1e-5 and isinstance(cfg["learning_rate"], float)
    assert cfg["dynamic_sampling"] == {"enabled": True, "epsilon": 0.01, "max_rounds": 2}
    assert cfg["trl"] == {"loss_type": "dr_grpo"} and cfg["lora"]["r"] == 8 and cfg["lora"]["alpha"] == 32
    assert cfg["bf16"] is False and cfg["max_steps"] == 3 and cfg["report_to"] == ["none"]
    assert "Traceback" not in proc.stderr


def test_rlvr_suite_takes_suite_colon_split(tmp_path, capsys):
    """`--data SUITE:split` (rlvr) and `--suite SUITE:split` (srl-then-rlvr) name tasks as everywhere else."""
    assert main(["train", "--method", "rlvr", "--data", "pypi-mutants:test", "-o", str(tmp_path / "r"),
                 "--print-config"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert (cfg["data"], cfg["split"]) == ("pypi-mutants", "test")
    steps = tmp_path / "steps"
    from srl_agent.train.fixtures import step_dataset

    step_dataset().save_to_disk(str(steps))
    assert main(["train", "--method", "srl-then-rlvr", "--data", str(steps), "--suite", "pypi-mutants:test",
                 "-o", str(tmp_path / "c"), "--print-config"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["suite"] == "pypi-mutants" and cfg["rlvr"]["split"] == "test"


def test_c_values_coerce_or_fail_naming_the_key():
    from srl_agent.errors import ConfigError
    from srl_agent.train.config import SRLConfig, load_config, parse_assignments
    from srl_agent.train.curriculum import CurriculumConfig

    cfg = load_config(SRLConfig, "srl_cpu", settings=parse_assignments(
        ["learning_rate=3e-6", "num_generations=4.0", "report_to=tensorboard", "lora=null", "top_p=.5"]))
    assert (cfg.learning_rate, cfg.num_generations, cfg.report_to, cfg.lora, cfg.top_p) == (
        3e-6, 4, ["tensorboard"], None, 0.5)
    stage = load_config(CurriculumConfig, "srl_then_rlvr_cpu", settings=parse_assignments(["srl.learning_rate=2e-5"]))
    assert stage.stage_config("srl").learning_rate == 2e-5
    for pair, message in [("num_generations=2.5", "num_generations: expected a whole number"),
                          ("use_vllm=maybe", "use_vllm: expected true or false"),
                          ("lora=5", "lora: expected a mapping of r, alpha"),
                          ("dynamic_sampling.enabled.x=1", "dynamic_sampling.enabled: expected true or false"),
                          ("learning_rate=-1", "learning_rate must be 0 or more")]:
        with pytest.raises(ConfigError, match=message):
            load_config(SRLConfig, "srl_cpu", settings=parse_assignments([pair]))


def test_report_to_a_logger_that_is_not_installed_fails_before_any_work(world, tmp_path, capsys):
    import importlib.util

    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed here")
    assert main(["train", "--data", world["steps"], "--config", "srl_cpu", "-o", str(tmp_path / "t"),
                 "--report-to", "wandb"]) == 2
    assert "report_to wandb: the wandb package is not installed" in capsys.readouterr().err


def test_model_card_names_base_model_method_and_data(tmp_path):
    from srl_agent.train.card import render_card
    from srl_agent.train.config import SFTRunConfig, load_config

    cfg = load_config(SFTRunConfig, "sft_cpu", data="runs/steps", model="Qwen/Qwen2.5-Coder-7B-Instruct",
                      output_dir=str(tmp_path / "sft"))
    text, record = render_card(cfg, "sft-step", global_step=12, examples=629)
    assert "base_model: Qwen/Qwen2.5-Coder-7B-Instruct" in text and "[None]" not in text
    assert "`sft-step`: SFT on step examples" in text and "`runs/steps` (split train, 629 examples)" in text
    assert record["base_model"] == "Qwen/Qwen2.5-Coder-7B-Instruct" and record["global_step"] == 12


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_real_training_run_is_quiet_shows_progress_and_writes_a_model_card(world, tmp_path):
    """One real SFT step of the tiny student through `srl train`, stderr a pipe (as in a log file)."""
    from srl_agent.policy.student import cached_student

    student = cached_student(REPO / ".cache" / "test-students")
    run = tmp_path / "run"
    proc = _srl("train", "--method", "sft", "--data", world["steps"], "--model", str(student), "--config", "sft_cpu",
                "-c", "learning_rate=1e-5", "-c", "warmup_ratio=0", "--max-steps", "2", "--report-to", "none",
                "-o", str(run), env={"SRL_PROGRESS_SECONDS": "0.2"}, timeout=880)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = json.loads((run / "train_config.json").read_text())
    assert saved["learning_rate"] == 1e-5 and saved["report_to"] == ["none"]
    card = (run / "final" / "README.md").read_text()
    assert "[None]" not in card and "tiny default student" in card and str(Path(student).resolve()) in card
    assert "`sft-step`" in card and str(Path(world["steps"]).resolve()) in card and "2 optimizer steps" in card
    assert (run / "README.md").read_text() == card  # TRL's checkpoint-time card is replaced too
    assert "FutureWarning" not in proc.stderr and "UserWarning" not in proc.stderr, proc.stderr
    assert "train: 2/2 steps (100%)" in proc.stderr and "\r" not in proc.stderr, proc.stderr


# ------------------------------------------------------------------------------------------------- output
def test_third_party_warnings_hidden_by_default_and_back_with_v():
    code = ("import sys, warnings\nfrom srl_agent.cli.helpers import configure_output\n"
            "configure_output(int(sys.argv[1]))\n"
            "warnings.warn_explicit('old API', FutureWarning, 'x.py', 1, module='transformers.utils')\n"
            "warnings.warn_explicit('odd input', UserWarning, 'x.py', 2, module='trl.trainer')\n"
            "warnings.warn_explicit('ours', UserWarning, 'x.py', 3, module='srl_agent.eval.agent')\n")
    quiet = subprocess.run([sys.executable, "-c", code, "0"], capture_output=True, text=True, check=True)
    loud = subprocess.run([sys.executable, "-c", code, "1"], capture_output=True, text=True, check=True)
    assert "old API" not in quiet.stderr and "odd input" not in quiet.stderr and "ours" in quiet.stderr
    assert "old API" in loud.stderr and "odd input" in loud.stderr


def test_verbose_flag_is_on_the_top_level_parser(capsys):
    import warnings

    env, filters = dict(os.environ), list(warnings.filters)
    assert main(["-v", "tasks", "list", "pypi-mutants:test"]) == 0
    assert main(["-q", "tasks", "list", "pypi-mutants:test"]) == 0
    assert "21 tasks (test: 21)" in capsys.readouterr().out
    # in-process (tests, `srl demo`'s stages) main() leaves the process as it found it
    assert dict(os.environ) == env and list(warnings.filters) == filters


def test_progress_prints_plain_lines_in_a_log(world, tmp_path):
    proc = _srl("traj", "split", world["traj_all"], "-o", str(tmp_path / "steps"), "--workers", "1",
                env={"SRL_PROGRESS_SECONDS": "0.05"})
    assert proc.returncode == 0, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("split: ")]
    assert lines and lines[-1].endswith(" - done") and "63 trajectories" in lines[-1], proc.stderr
    assert "\r" not in proc.stderr


def test_line_progress_beats_while_an_item_is_slow():
    import io

    from srl_agent.progress import LineProgress

    stream = io.StringIO()
    with LineProgress("eval", total=4, unit="episode", every=0.05, stream=stream) as bar:
        time.sleep(0.3)  # one slow episode: the heartbeat still prints
        bar.update(1)
        bar.set_postfix(resolved=1)
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3 and lines[0].startswith("eval: 0/4 episode (0%)")
    assert lines[-1].startswith("eval: 1/4 episode (25%)") and lines[-1].endswith("resolved 1 - done")
    quiet = io.StringIO()
    with LineProgress("fast", total=1, every=60, stream=quiet) as bar:
        bar.update(1)
    assert quiet.getvalue() == ""  # a stage shorter than the interval prints nothing


def test_missing_output_folders_are_created(world, tmp_path):
    out = tmp_path / "new" / "deeper" / "t.jsonl"
    assert main(["traj", "import", world["traj"], "-o", str(out), "--workers", "1"]) == 0
    assert out.is_file()


def test_an_os_error_during_a_run_is_one_line_exit_1(world, tmp_path, monkeypatch, capsys):
    import srl_agent.trajectory.importer as importer

    def fail(*a, **k):
        raise OSError(28, "No space left on device", str(tmp_path / "o.jsonl"))

    monkeypatch.setattr(importer, "import_trajectories", fail)
    assert main(["traj", "import", world["traj"], "-o", str(tmp_path / "o.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"srl traj import: error: {tmp_path / 'o.jsonl'}: No space left on device"


@pytest.mark.parametrize("argv", [["tasks", "list"], ["tasks", "show", "{tid}"], ["traj", "show", "{traj_all}"],
                                  ["traj", "stats", "{traj_all}"]])
def test_closed_pipe_exits_quietly(argv, world):
    """`srl tasks show ID | head`: the reader goes away; no BrokenPipeError, exit 141 as other CLIs."""
    proc = subprocess.Popen(srl_command() + [a.format(**world) for a in argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=os.environ | {"SRL_PROGRESS": "off"})
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) in (0, 141) and "Traceback" not in err and "Broken" not in err, err


@pytest.mark.docker
def test_unknown_image_is_a_usage_error(docker_engine, capsys):
    assert main(["env", "run", "srl-agent-no-such-image:x", "--", "true"]) == 2
    assert "IMAGE srl-agent-no-such-image:x: image not found here" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- task names
def test_suite_colon_split_and_split_flag_are_the_same(capsys):
    assert main(["tasks", "list", "pypi-mutants:test"]) == 0
    colon = capsys.readouterr().out
    assert main(["tasks", "list", "pypi-mutants", "--split", "test"]) == 0
    assert capsys.readouterr().out == colon and "21 tasks (test: 21)" in colon


def test_tasks_show_finds_a_task_of_a_tasks_file(world, capsys):
    assert main(["tasks", "list", world["tasks_file"]]) == 0
    assert world["tid"] in capsys.readouterr().out
    assert main(["tasks", "show", world["tid"], "--suite", world["tasks_file"]]) == 0
    assert f"instance_id: {world['tid']}" in capsys.readouterr().out
    assert main(["tasks", "show", world["tid"], "--suite", "pypi-mutants:train"]) == 0
    assert main(["tasks", "show", world["tid"], "--suite", "pypi-mutants:test"]) == 2
    assert "no task" in capsys.readouterr().err
