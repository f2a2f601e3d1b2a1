"""The entry point `accelerate launch` / `torchrun` runs in every process: `srl train`'s options, one trainer per rank.

    accelerate launch --config_file srl_agent/resources/configs/accelerate/zero2.yaml -m srl_agent.train.launch \\
        --method srl --data runs/steps --output runs/srl --config srl_agent/resources/configs/srl_paper.yaml
    torchrun --nproc_per_node 2 -m srl_agent.train.launch --method sft --data ... --output ...

The trainers are TRL's, so accelerate / DeepSpeed / FSDP come in through TRL's own path (the launcher's
environment); this module only parses the options, lets one process build what all of them would otherwise
race to build, derives gradient accumulation from the number of processes, and has rank 0 print the result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from srl_agent.errors import SRLError, UsageError


def world() -> tuple[int, int]:
    """(rank, number of processes) from the launcher's environment (torchrun, accelerate, deepspeed, mpirun)."""
    env = os.environ
    rank = env.get("RANK") or env.get("OMPI_COMM_WORLD_RANK") or env.get("PMI_RANK") or "0"
    size = env.get("WORLD_SIZE") or env.get("OMPI_COMM_WORLD_SIZE") or env.get("PMI_SIZE") or "1"
    return int(rank), int(size)


def train_parser() -> argparse.ArgumentParser:
    """Exactly `srl train`'s parser (srl_agent.cli.train), under this module's name."""
    from srl_agent.cli.train import register

    root = argparse.ArgumentParser(prog="python -m srl_agent.train.launch")
    sub = root.add_subparsers(dest="command")
    register(sub)
    parser = sub.choices["train"]
    parser.prog = "accelerate launch [...] -m srl_agent.train.launch"
    return parser


def overrides_for(args: argparse.Namespace, num_processes: int) -> tuple[dict, object]:
    """`srl train`'s overrides (and the config they give), plus gradient accumulation for this many processes
    (so that one optimizer step still sees the configured batch) when the config derives it and does not fix it."""
    from srl_agent.train import METHODS, resolve
    from srl_agent.cli.train import train_settings
    from srl_agent.train.config import load_config

    settings, overrides = train_settings(args)  # -c KEY=VALUE and --report-to, then the flags
    overrides["settings"] = settings
    config = load_config(resolve(METHODS[args.method][0]), args.config, **overrides)
    if hasattr(config, "accumulation_steps") and not config.gradient_accumulation_steps:
        overrides["gradient_accumulation_steps"] = config.accumulation_steps(num_processes)
    return overrides, config


def _use_cpu_when_no_gpu(num_processes: int) -> None:
    """Several processes and no GPU: tell accelerate to run them as MULTI_CPU over gloo. Neither torchrun nor
    accelerate's torchrun path (srl_agent/resources/configs/accelerate/cpu_2proc.yaml) says so, and the Trainer would then train
    each process alone on the whole data."""
    if num_processes > 1 and "ACCELERATE_USE_CPU" not in os.environ:
        import torch

        if not torch.cuda.is_available():
            os.environ["ACCELERATE_USE_CPU"] = "true"


def _build_shared_model(model: str | None) -> None:
    """A named student (`tiny`, `smollm2-135m`) is built on first use: one process builds it, the others wait for
    it (resolve_model takes a file lock, so this needs no process group and also holds for ranks of several
    nodes on a shared home)."""
    from srl_agent.policy.student import NAMED_STUDENTS, resolve_model

    if (model or "tiny") in NAMED_STUDENTS:
        resolve_model(model)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:  # `... -m srl_agent.train.launch train --method ...` reads as `srl train ...`
        argv = argv[1:]
    args = train_parser().parse_args(argv)
    from srl_agent.cli.helpers import configure_output

    configure_output(int(os.environ.get("SRL_VERBOSE", "0") or 0))  # as `srl train`; SRL_VERBOSE=1 is `srl -v`
    rank, size = world()
    try:
        from srl_agent.train import METHODS, run

        if args.method not in METHODS:
            raise SRLError(f"unknown method {args.method!r}")
        overrides, config = overrides_for(args, size)
        _use_cpu_when_no_gpu(size)
        _build_shared_model(config.model)
        result = run(args.method, args.config, resume=args.resume, **overrides)
    except SRLError as exc:
        print(f"srl train (rank {rank} of {size}): error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    if rank == 0:
        print(json.dumps({**result.__dict__, "num_processes": size}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
