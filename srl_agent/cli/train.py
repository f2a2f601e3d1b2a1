"""`srl train`: parse and check the options (before any model loads), hand them to srl_agent.train.run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from srl_agent.cli.helpers import check_input, check_model, check_steps_dataset, output_dir, positive_int, seed, suite_and_split
from srl_agent.train import METHODS

REPORT_TO = ("tensorboard", "wandb", "mlflow", "trackio", "none")


def register(sub) -> None:
    p = sub.add_parser("train", help="train a student: " + " | ".join(METHODS),
                       description="Train a student on step examples (srl, sft) or trajectories (sft), or on tasks "
                                   "in containers (rlvr). Settings come from --config, then -c KEY=VALUE, then the "
                                   "flags below.",
                       epilog="`srl -v train ...` shows the libraries' warnings and info logs (hidden by default).",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--method", choices=sorted(METHODS), default="srl")
    p.add_argument("--data", default=None, help="step-example dataset dir (srl traj split) or trajectory JSONL (sft); "
                   "for rlvr a task suite (name or tasks file, SUITE[:split]; default pypi-mutants)")
    p.add_argument("--suite", default=None, metavar="SUITE[:split]",
                   help="srl-then-rlvr: the task suite of the RLVR stage (default pypi-mutants)")
    p.add_argument("--model", default=None, help="`tiny` (the default student), an HF id or a local path")
    p.add_argument("--output", "-o", required=True, type=output_dir,
                   help="run directory: checkpoints, logs, final model")
    p.add_argument("--config", default=None, help="YAML file or preset name: srl_cpu, srl_paper, sft_cpu, sft_paper, "
                   "rlvr_cpu, rlvr_paper, srl_then_rlvr_cpu, srl_then_rlvr_paper")
    p.add_argument("-c", "--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting of the config, typed by its field (-c learning_rate=1e-5, "
                        "-c dynamic_sampling.epsilon=0.01, -c lora.r=8, -c trl.loss_type=dr_grpo); repeatable")
    p.add_argument("--report-to", default=None, metavar="|".join(REPORT_TO), type=_reporters,
                   help="where metrics go besides metrics.jsonl (comma-separated; default: the config's)")
    p.add_argument("--max-steps", type=positive_int, default=None, help="stop after N optimizer steps")
    p.add_argument("--save-steps", type=positive_int, default=None, help="checkpoint every N steps")
    p.add_argument("--seed", type=seed, default=None)
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved config (file, then -c, then flags) as JSON and exit without training")
    p.set_defaults(func=_train)


def _reporters(text: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    bad = [n for n in names if n not in REPORT_TO]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(REPORT_TO)} (comma-separated), got {text!r}")
    return names


def check_data(method: str, data: str | None, suite: str | None) -> None:
    """--data / --suite as the method needs them, checked before the config's model is built or loaded."""
    from srl_agent.errors import ConfigError

    if data is None and method in ("srl", "sft", "srl-then-rlvr"):
        raise ConfigError(f"--method {method} needs --data (step examples from `srl traj split`"
                          f"{', or trajectory JSONL' if method == 'sft' else ''})")
    if suite is not None and method != "srl-then-rlvr":
        raise ConfigError("--suite is for --method srl-then-rlvr; for rlvr pass the suite as --data")
    for flag, spec in (("--data", data if method == "rlvr" else None), ("--suite", suite)):
        if spec is not None:
            from srl_agent.tasks.suite import load_suite

            load_suite(*suite_and_split(spec, None, flag))  # a one-line InputError when it is not a suite
    if method == "rlvr" or data is None:
        return
    path = check_input(data, "--data", kind="any", hint="make step examples with `srl traj split`")
    if path.is_dir():
        check_steps_dataset(path, "--data")
    elif method != "sft":
        raise ConfigError(f"--data {data}: --method {method} reads a step-example folder (`srl traj split`), not a "
                          "file; a trajectory JSONL is for --method sft")
    else:
        check_input(data, "--data", text=True)


def train_settings(args: argparse.Namespace) -> tuple[dict, dict]:
    """(settings from -c and --report-to, flag overrides) for srl_agent.train.run / load_config."""
    from srl_agent.train.config import parse_assignments

    settings = parse_assignments(args.settings)
    if args.report_to is not None:
        settings["report_to"] = args.report_to
    data, overrides = args.data, {}
    if args.method == "rlvr" and data is not None:
        data, split = suite_and_split(data, None, "--data")
        overrides["split"] = split
    suite = args.suite
    if suite is not None:
        suite, split = suite_and_split(suite, None, "--suite")
        if split:
            settings.setdefault("rlvr", {})["split"] = split
    overrides.update(data=data, model=args.model, suite=suite, output_dir=args.output, max_steps=args.max_steps,
                     save_steps=args.save_steps, seed=args.seed)
    if args.method != "srl-then-rlvr":
        overrides.pop("suite")
    return settings, overrides


def _train(args: argparse.Namespace) -> int:
    from srl_agent.train import METHODS, resolve, run
    from srl_agent.train.config import load_config

    check_data(args.method, args.data, args.suite)
    check_model(args.model)
    settings, overrides = train_settings(args)
    config_file = args.config
    if config_file is not None and Path(config_file).exists():
        check_input(config_file, "--config", text=True)
    if config_file is None:
        from srl_agent.train import _cpu_preset_for_tiny

        config_file = _cpu_preset_for_tiny(args.method, args.model)
    # The whole config is built (and so checked) here once, before anything heavy is imported or loaded.
    config = load_config(resolve(METHODS[args.method][0]), config_file, settings=settings, **overrides)
    check_model(config.model, "model (in the config)")
    if args.method in ("srl", "sft") and Path(config.data).is_dir():
        check_steps_dataset(config.data, "--data", split=config.split)
    if args.print_config:
        print(json.dumps(config.to_dict(), indent=2, default=str))
        return 0
    result = run(args.method, config_file, resume=args.resume, settings=settings, **overrides)
    print(json.dumps(result.__dict__, indent=2))
    return 0
