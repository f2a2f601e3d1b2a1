"""`srl student init`: build and warm-start the default tiny student."""

from __future__ import annotations

import argparse
import json

from srl_agent.cli_helpers import check_input, check_output, input_file, nonneg_int, output_dir, seed


def register(sub) -> None:
    p = sub.add_parser("student", help="the default tiny student model (init)")
    ssub = p.add_subparsers(dest="student_command", metavar="COMMAND")
    init = ssub.add_parser("init", help="build the tiny Qwen2 student, its tokenizer, and warm-start it",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    init.add_argument("-o", "--output", default=None, type=output_dir,
                      help="model folder (default: $SRL_HOME/students/tiny or ~/.cache/srl-agent/students/tiny)")
    init.add_argument("--seed", type=seed, default=0)
    init.add_argument("--warm-steps", type=nonneg_int, default=None,
                      help="warm-start SFT steps (0 = none; default: the spec's)")
    init.add_argument("--text", nargs="*", default=[], metavar="FILE", type=input_file,
                      help="more text for the tokenizer (e.g. trajectory files of your own corpus)")
    init.add_argument("--force", action="store_true", help="rebuild even if the folder already holds a student")
    init.set_defaults(func=_init)
    p.set_defaults(func=lambda _a: (p.print_help(), 2)[1])


def _init(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from srl_agent.policy.student import SPEC_FILE, StudentSpec, default_student_dir, init_student

    out = Path(args.output) if args.output else default_student_dir()
    check_output(out, "-o" if args.output else "the default student folder ($SRL_HOME)", kind="folder")
    for name in args.text:
        check_input(name, "--text", text=True)
    if (out / SPEC_FILE).exists() and not args.force:
        print(f"a student is already at {out} (use --force to rebuild)")
        print((out / SPEC_FILE).read_text())
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
    ws = record["warm_start"] or {}
    print(f"student at {out}: {record['parameters']:,} parameters, vocab {record['vocab_size']}, "
          f"context {record['context_length']}")
    if ws:
        print(f"parse rate at temperature 1: {ws['parse_rate_before']:.0%} before warm start, "
              f"{ws['parse_rate_after']:.0%} after (greedy {ws['greedy_parse_rate_after']:.0%}); {ws['seconds']}s")
    print(json.dumps(record, indent=2))
    return 0
