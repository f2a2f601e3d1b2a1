"""Multi-process training: the accelerate recipes parse as accelerate 1.15 reads them and follow TRL's own, and
`srl_agent.train.launch` runs a few SFT steps of the tiny student in two CPU processes over gloo."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from srl_agent.resources import resource_dir

REPO = Path(__file__).resolve().parents[2]
RESOURCES = resource_dir()
CONFIGS = RESOURCES / "configs" / "accelerate"
# Our recipe -> TRL's recipe it follows (trl/accelerate_configs/).
TRL_RECIPES = {"ddp.yaml": "multi_gpu.yaml", "zero2.yaml": "zero2.yaml", "zero3.yaml": "zero3.yaml",
               "fsdp.yaml": "fsdp2.yaml"}


def _validated(path: Path):
    """What `accelerate launch --config_file path` would run with (its own loader and checks)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    args = launch_command_parser().parse_args(["--config_file", str(path), "-m", "srl_agent.train.launch"])
    args, _defaults, _ = _validate_launch_command(args)
    return args


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_accelerate_config_parses(name):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(CONFIGS / name))  # unknown keys raise here
    args = _validated(CONFIGS / name)
    expected = {"cpu_2proc.yaml": ("multi_gpu", 2), "ddp.yaml": ("multi_gpu", 8), "zero2.yaml": ("use_deepspeed", 8),
                "zero3.yaml": ("use_deepspeed", 8), "fsdp.yaml": ("use_fsdp", 8)}[name]
    assert getattr(args, expected[0]) is True and args.num_processes == expected[1]
    if name == "cpu_2proc.yaml":
        assert config.mixed_precision == "no" and config.use_cpu
    else:
        assert config.mixed_precision == "bf16" and not config.use_cpu
    if name.startswith("zero"):
        assert args.zero_stage == int(name[4])
    if name == "fsdp.yaml":
        assert args.fsdp_version == 2 and args.fsdp_state_dict_type == "FULL_STATE_DICT"


@pytest.mark.parametrize("ours,theirs", sorted(TRL_RECIPES.items()))
def test_recipes_follow_trl(ours, theirs):
    """Every setting TRL's recipe makes is made the same way here (ours may add comments, not change values)."""
    import trl
    import yaml

    trl_dir = Path(trl.__file__).parent / "accelerate_configs"
    mine = yaml.safe_load((CONFIGS / ours).read_text())
    ref = yaml.safe_load((trl_dir / theirs).read_text())
    differing = {k: (mine.get(k), v) for k, v in ref.items() if not k.startswith("tpu_") and mine.get(k) != v}
    assert not differing, f"{ours} differs from TRL's {theirs}: {differing}"


def test_launch_takes_exactly_srl_train_options():
    from srl_agent.cli import build_parser
    from srl_agent.train.launch import train_parser

    srl_train = build_parser(["train"])._subparsers._group_actions[0].choices["train"]

    def options(p):
        return sorted((a.dest, tuple(a.option_strings), a.default, a.required) for a in p._actions)

    assert options(train_parser()) == options(srl_train)


def test_launch_reads_rank_and_world_size_from_the_launcher(monkeypatch):
    from srl_agent.train.launch import world

    for var in ("RANK", "WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE"):
        monkeypatch.delenv(var, raising=False)
    assert world() == (0, 1)
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "3")
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert world() == (3, 4)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert world() == (1, 2)


def test_srl_accumulation_is_divided_over_processes(steps_dir):
    """One optimizer step sees prompts_per_batch x G completions however many processes share it."""
    from srl_agent.train.launch import overrides_for, train_parser

    args = train_parser().parse_args(["--method", "srl", "--data", str(steps_dir), "-o", "x",
                                      "--config", str(RESOURCES / "configs" / "srl_paper.yaml")])
    one, _ = overrides_for(args, 1)
    eight, config = overrides_for(args, 8)
    assert one["gradient_accumulation_steps"] == 8 * eight["gradient_accumulation_steps"]
    assert eight["gradient_accumulation_steps"] * 8 * config.per_device_train_batch_size == 512 * 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["accelerate", "torchrun"])
def test_two_cpu_processes_train_sft_together(launcher, student_dir, steps_dir, tmp_path):
    """Two gloo ranks split each batch: after 2 steps of 4 rows per rank, the epoch is 2 / ceil(rows / 8), not
    the 2 / ceil(rows / 4) of two processes training alone; rank 0 alone prints the result."""
    from datasets import load_from_disk

    bindir = Path(sys.executable).parent
    port = str(_free_port())
    if launcher == "accelerate":
        cmd = [str(bindir / "accelerate"), "launch", "--config_file", str(CONFIGS / "cpu_2proc.yaml"),
               "--main_process_port", port]
    else:
        cmd = [str(bindir / "torchrun"), "--nproc_per_node", "2", "--master_port", port]
    out = tmp_path / "sft"
    cmd += ["-m", "srl_agent.train.launch", "--method", "sft", "--data", str(steps_dir), "--model", str(student_dir),
            "--output", str(out), "--config", str(RESOURCES / "configs" / "sft_cpu.yaml"), "--max-steps", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    start = proc.stdout.index('{\n  "method"')
    result = json.loads(proc.stdout[start: proc.stdout.index("\n}", start) + 2])
    assert proc.stdout.count('"num_processes"') == 1
    assert result["num_processes"] == 2 and result["global_step"] == 2
    assert (Path(result["final_model_dir"]) / "model.safetensors").is_file()
    rows = len(load_from_disk(str(steps_dir))["train"])
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert math.isclose(logged[-1]["epoch"], 2 / math.ceil(rows / 8), rel_tol=1e-6), logged[-1]
