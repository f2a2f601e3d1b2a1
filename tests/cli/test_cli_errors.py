"""Every user mistake of issue 16, through the real `srl` entry point: one line on stderr that names the argument or
file, says what is wrong and what to do; no traceback; exit 2 for usage errors, 1 for a run that failed; and none of
them starts expensive work (no container, no model build) before the arguments are checked.

Each case runs in-process through `srl_agent.cli.main` (fast); one case of each class also runs as a subprocess of
the installed `srl` command.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from clitools import srl_command

# (id, argv with {placeholders} from the `world` fixture, exit code, phrases the one stderr line must hold)
OUTPUT = [
    ("import-ro", "traj import {traj} -o {ro}/out.jsonl", 2, ["-o/--output", "cannot write in", "pick another path"]),
    ("import-dir", "traj import {traj} -o {dir}", 2, ["-o/--output", "is a folder; give a file name"]),
    ("import-under-file", "traj import {traj} -o {file}/sub/out.jsonl", 2, ["is a file, so no folder can be made"]),
    ("split-ro", "traj split {traj} -o {ro}/steps", 2, ["-o/--output", "cannot write in"]),
    ("split-file", "traj split {traj} -o {file}", 2, ["-o/--output", "is a file; give a folder"]),
    ("split-jsonl-dir", "traj split {traj} -o {root}/out/s --jsonl {dir}", 2, ["--jsonl", "is a folder"]),
    ("view-ro", "traces view {traj} -o {ro}/r.html", 2, ["-o/--output", "cannot write in"]),
    ("grade-ro", "grade {preds} -o {ro}/rep.json", 2, ["-o/--output", "cannot write in"]),
    ("grade-dir", "grade {preds} -o {dir}", 2, ["-o/--output", "is a folder"]),
    ("grade-run-dir-file", "grade {preds} -o {root}/out/rep.json --run-dir {file}", 2, ["--run-dir", "is a file"]),
    ("eval-ro", "eval --policy scripted --model {traj} --tasks pypi-mutants -o {ro}/run", 2,
     ["-o/--output", "cannot write in"]),
    ("eval-file", "eval --policy scripted --model {traj} --tasks pypi-mutants -o {file}", 2,
     ["-o/--output", "is a file; give a folder"]),
    ("replay-ro", "traj replay {traj} --tasks pypi-mutants -o {ro}/rep.jsonl", 2, ["-o/--output", "cannot write in"]),
    ("replay-dir", "traj replay {traj} --tasks pypi-mutants -o {dir}", 2, ["-o/--output", "is a folder"]),
    ("replay-keep-ro", "traj replay {traj} --tasks pypi-mutants -o {root}/out/r.jsonl --keep-resolved {ro}/k.jsonl",
     2, ["--keep-resolved", "cannot write in"]),
    ("generate-ro", "traj generate --tasks pypi-mutants -o {ro}/g.jsonl", 2, ["-o/--output", "cannot write in"]),
    ("student-ro", "student init -o {ro}/st", 2, ["-o/--output", "cannot write in"]),
    ("student-file", "student init -o {file}", 2, ["-o/--output", "is a file; give a folder"]),
    ("demo-ro", "demo --run-dir {ro}/demo", 2, ["--run-dir", "cannot write in"]),
    ("demo-file", "demo --run-dir {file}", 2, ["--run-dir", "is a file"]),
    ("train-ro", "train --data {steps} --config srl_cpu -o {ro}/t", 2, ["--output/-o", "cannot write in"]),
    ("train-file", "train --data {steps} --config srl_cpu -o {file}", 2, ["--output/-o", "is a file"]),
    ("import-onto-input", "traj import {victim} -o {victim}", 2, ["-o", "is also an input", "give another path"]),
    ("replay-onto-input", "traj replay {victim} --tasks pypi-mutants -o {victim}", 2, ["-o", "is also an input"]),
    ("replay-keep-is-report", "traj replay {traj} --tasks pypi-mutants -o {root}/out/r.jsonl --keep-resolved "
                              "{root}/out/r.jsonl", 2, ["--keep-resolved", "is the -o report file too"]),
    ("split-jsonl-onto-input", "traj split {victim} -o {root}/out/s --jsonl {victim}", 2, ["--jsonl", "is also"]),
    ("grade-onto-predictions", "grade {preds} -o {preds}", 2, ["-o", "is also an input"]),
    ("view-onto-input", "traces view {victim} -o {victim}", 2, ["-o", "is also an input"]),
    ("eval-steps-ro", "eval-steps --model m --policy openai --data {steps} -o {ro}/s.json", 2,
     ["-o", "cannot write in"]),
]
NOT_TEXT = [
    ("stats-png", "traj stats {png}", 1, ["no record of", "img.png", "reads as a trajectory"]),
    ("import-png", "traj import {png} -o {root}/out/o.jsonl", 1, ["nothing was imported"]),
    ("show-png", "traj show {png}", 2, ["img.png", "not a UTF-8 text file (a PNG image)", "srl traj import"]),
    ("tasks-list-png", "tasks list {png}", 2, ["img.png", "PNG image", "give JSON or JSONL"]),
    ("tasks-show-png", "tasks show {tid} --suite {png}", 2, ["img.png", "PNG image"]),
    ("grade-png", "grade {png} -o {root}/out/r.json", 2, ["predictions", "img.png", "PNG image"]),
    ("grade-tasks-png", "grade {preds} --tasks {png} -o {root}/out/r.json", 2, ["img.png", "PNG image"]),
    ("train-config-png", "train --config {png} --data {steps} -o {root}/out/t", 2, ["--config", "img.png", "PNG"]),
    ("eval-model-png", "eval --policy scripted --model {png} --tasks pypi-mutants -o {root}/out/e", 2,
     ["img.png", "PNG image", "canonical trajectory JSONL"]),
    ("eval-tasks-png", "eval --policy scripted --model {traj} --tasks {png} -o {root}/out/e", 2, ["img.png", "PNG"]),
    ("eval-expert-png", "eval --policy scripted --model {traj} --tasks pypi-mutants --expert {png} -o {root}/out/e",
     2, ["img.png", "PNG"]),
    ("replay-png", "traj replay {png} --tasks pypi-mutants -o {root}/out/r.jsonl", 2, ["img.png", "PNG image"]),
    ("split-png", "traj split {png} -o {root}/out/s", 2, ["img.png", "PNG image"]),
    ("view-png", "traces view {png} -o {root}/out/r.html", 2, ["img.png", "nothing to show"]),
    ("eval-steps-data-png", "eval-steps --model m --policy openai --data {png}", 2, ["--data", "is a file"]),
    ("train-data-png", "train --data {png} --config srl_cpu -o {root}/out/t", 2, ["--data", "not a file"]),
    ("student-text-png", "student init -o {root}/out/st --text {png}", 2, ["--text", "PNG image"]),
]
MISSING = [
    ("show-missing", "traj show {none}.jsonl", 2, ["FILE", "none.jsonl", "no such file"]),
    ("stats-missing", "traj stats {none}.jsonl", 2, ["none.jsonl", "no such file or folder"]),
    ("split-missing", "traj split {none}.jsonl -o {root}/out/s", 2, ["IN.jsonl", "no such file"]),
    ("grade-missing", "grade {none}.json -o {root}/out/r.json", 2, ["predictions", "no such file"]),
    ("train-data-missing", "train --data {none} --config srl_cpu -o {root}/out/t", 2,
     ["--data", "no such file or folder", "srl traj split"]),
    ("train-config-missing", "train --config {none}.yaml --data {steps} -o {root}/out/t", 2,
     ["--config", "no such preset", "srl_cpu"]),
    ("eval-steps-data-missing", "eval-steps --model m --policy openai --data {none}", 2, ["--data", "srl traj split"]),
    ("view-missing", "traces view {none} -o {root}/out/r.html", 2, ["path", "no such file or folder"]),
    ("eval-tasks-missing", "eval --policy scripted --model {traj} --tasks {none} -o {root}/out/e", 2,
     ["no task suite", "give a suite name"]),
    ("eval-scripted-missing", "eval --policy scripted --model {none}.jsonl --tasks pypi-mutants -o {root}/out/e", 2,
     ["--model", "no such file"]),
    ("student-text-missing", "student init -o {root}/out/st --text {none}.txt", 2, ["--text", "no such file"]),
    ("stats-folder", "traj stats {dir}", 2, ["dir", "no trajectory files there"]),
    ("show-folder", "traj show {dir}", 2, ["FILE", "is a folder; give a file"]),
    ("grade-folder", "grade {dir} -o {root}/out/r.json", 2, ["predictions", "is a folder"]),
    ("train-config-folder", "train --config {dir} --data {steps} -o {root}/out/t", 2, ["--config", "is a folder"]),
    ("replay-folder", "traj replay {dir} --tasks pypi-mutants -o {root}/out/r.jsonl", 2, ["is a folder"]),
    ("eval-model-file", "eval --model {file} --tasks pypi-mutants -o {root}/out/e", 2, ["--model", "is a file"]),
    ("eval-model-folder", "eval --model {dir} --tasks pypi-mutants -o {root}/out/e", 2, ["--model", "holds no model"]),
    ("eval-steps-model-path", "eval-steps --model ./no/such/model --data {steps}", 2, ["--model", "no such model"]),
    ("split-tokenizer-path", "traj split {traj} -o {root}/out/s --tokenizer /no/such/tokenizer", 2,
     ["--tokenizer", "no such model folder"]),
    ("eval-unknown-ids", "eval --policy scripted --model {traj} --tasks pypi-mutants --instance-ids nope -o "
                         "{root}/out/e", 2, ["--instance-ids", "nope", "srl tasks list"]),
]
_NUMBERS = [
    ("traj import {traj} -o {root}/out/o.jsonl", "--workers", ["0", "-3"]),
    ("traj split {traj} -o {root}/out/s", "--workers", ["0"]),
    ("traj split {traj} -o {root}/out/s", "--context-rounds", ["-2"]),
    ("traj split {traj} -o {root}/out/s", "--val-trajectories", ["-1"]),
    ("traj split {traj} -o {root}/out/s", "--max-observation-chars", ["0"]),
    ("traj split {traj} -o {root}/out/s", "--max-chars", ["-1"]),
    ("traj split {traj} -o {root}/out/s", "--max-tokens", ["abc"]),
    ("traj show {traj}", "--index", ["-1"]),
    ("traj replay {traj} --tasks pypi-mutants -o {root}/out/r.jsonl", "--workers", ["0"]),
    ("traj replay {traj} --tasks pypi-mutants -o {root}/out/r.jsonl", "--step-timeout", ["-1", "nan"]),
    ("traj replay {traj} --tasks pypi-mutants -o {root}/out/r.jsonl", "--grade-timeout", ["0"]),
    ("traj generate --tasks pypi-mutants -o {root}/out/g.jsonl", "--per-task", ["0"]),
    ("traj generate --tasks pypi-mutants -o {root}/out/g.jsonl", "--workers", ["-1"]),
    ("student init -o {root}/out/st", "--warm-steps", ["-5"]),
    ("student init -o {root}/out/st", "--seed", ["-1"]),
    ("train --data {steps} -o {root}/out/t", "--max-steps", ["-1", "0"]),
    ("train --data {steps} -o {root}/out/t", "--save-steps", ["0"]),
    ("tasks build", "--workers", ["0"]),
    ("tasks build", "--validate", ["-1"]),
    ("grade {preds} -o {root}/out/r.json", "--timeout", ["-5", "nan", "inf"]),
    ("grade {preds} -o {root}/out/r.json", "--workers", ["0"]),
    ("eval --policy scripted --model {traj} --tasks pypi-mutants -o {root}/out/e", "--max-steps", ["0"]),
    ("eval --policy scripted --model {traj} --tasks pypi-mutants -o {root}/out/e", "--workers", ["0"]),
    ("eval --policy scripted --model {traj} --tasks pypi-mutants -o {root}/out/e", "--samples", ["0"]),
    ("eval --policy scripted --model {traj} --tasks pypi-mutants -o {root}/out/e", "--temperature", ["-1"]),
    ("eval --policy scripted --model {traj} --tasks pypi-mutants -o {root}/out/e", "--top-p", ["2", "0"]),
    ("eval --policy scripted --model {traj} --tasks pypi-mutants -o {root}/out/e", "--time-limit", ["0"]),
    ("eval --policy scripted --model {traj} --tasks pypi-mutants -o {root}/out/e", "--command-timeout", ["-1"]),
    ("eval --policy scripted --model {traj} --tasks pypi-mutants -o {root}/out/e", "--max-prompt-tokens", ["0"]),
    ("eval --policy scripted --model {traj} --tasks pypi-mutants -o {root}/out/e", "--context-rounds", ["-2"]),
    ("eval --policy scripted --model {traj} --tasks pypi-mutants -o {root}/out/e", "--limit", ["0"]),
    ("eval --policy scripted --model {traj} --tasks pypi-mutants -o {root}/out/e", "--max-new-tokens", ["0"]),
    ("eval-steps --model m --policy openai --data {steps}", "--batch-size", ["0"]),
    ("eval-steps --model m --policy openai --data {steps}", "--limit", ["-1"]),
    ("traces view {traj} -o {root}/out/r.html", "--limit", ["-1"]),
    ("traces view {traj} -o {root}/out/r.html", "--context-rounds", ["-2"]),
    ("env run", "--timeout", ["-1"]),
    ("env run", "--cpus", ["0"]),
    ("env run", "--pids-limit", ["0"]),
    ("env run", "--memory", ["lots", "0"]),
]


def _command_words(cmd: str) -> str:
    words = []
    for w in cmd.split():
        if w.startswith(("{", "-")):
            break
        words.append(w)
    return "-".join(words)


NUMBERS = [(f"{_command_words(cmd)}{flag}={value}",
            f"{cmd} {flag} {value}" + (" srl-agent-base:any -- true" if cmd == "env run" else ""), 2,
            [f"argument {flag}", value if value not in ("nan", "inf") else "got"])
           for cmd, flag, values in _NUMBERS for value in values]
CONFIG = [
    ("c-unknown-key", "train --data {steps} --config srl_cpu -o {root}/out/t -c learnin_rate=1e-5", 2,
     ["-c learnin_rate", "unknown setting", "did you mean learning_rate"]),
    ("c-bad-value", "train --data {steps} --config srl_cpu -o {root}/out/t -c learning_rate=fast", 2,
     ["-c learning_rate", "expected a number", "'fast'"]),
    ("c-nested-unknown", "train --data {steps} --config srl_cpu -o {root}/out/t -c dynamic_sampling.epsilom=0.1", 2,
     ["dynamic_sampling.epsilom", "did you mean epsilon"]),
    ("c-no-equals", "train --data {steps} --config srl_cpu -o {root}/out/t -c learning_rate", 2,
     ["expected KEY=VALUE"]),
    ("c-range", "train --data {steps} --config srl_cpu -o {root}/out/t -c top_p=1.5", 2, ["top_p", "at most 1"]),
    ("report-to-bad", "train --data {steps} --config srl_cpu -o {root}/out/t --report-to mlflowx", 2,
     ["--report-to", "tensorboard, wandb"]),
    ("env-run-option-after-image", "env run srl-agent-base:any --memory lots -- true", 2, ["--memory", "512m"]),
]
ORDER = [  # SRL_HOME is an empty folder: `--model tiny` would build the student first if checks came late
    ("order-eval-steps", "eval-steps --model tiny --data {none}", 2, ["--data", "srl traj split"]),
    ("order-train", "train --model tiny --data {none} -o {root}/out/t", 2, ["--data", "srl traj split"]),
    ("order-eval-tasks", "eval --model tiny --tasks {none} -o {root}/out/e", 2, ["no task suite"]),
    ("order-eval-output", "eval --model tiny --tasks pypi-mutants -o {file}", 2, ["-o/--output", "is a file"]),
    ("order-eval-split", "eval --model tiny --tasks pypi-mutants --split nosuch -o {root}/out/e", 2,
     ["split 'nosuch'", "test", "train"]),
]
NAMES = [
    ("names-two-splits", "tasks list pypi-mutants:test --split train", 2, ["SUITE pypi-mutants:test", "--split"]),
    ("names-eval-split-applies", "eval --policy scripted --model {traj} --tasks pypi-mutants --split test "
                                 "--instance-ids {tid} -o {root}/out/e", 2, ["--instance-ids", "{tid}"]),
    ("names-replay-split", "traj replay {traj} --tasks pypi-mutants:nosuch -o {root}/out/r.jsonl", 2,
     ["split 'nosuch'"]),
]
CASES = OUTPUT + NOT_TEXT + MISSING + NUMBERS + CONFIG + ORDER + NAMES
# One of each class also through a subprocess of the installed `srl`.
SUBPROCESS = ["import-ro", "grade-png", "show-folder", "grade--timeout=-5", "c-unknown-key", "order-train",
              "names-two-splits", "env-run--memory=lots"]


def _argv(template: str, world: dict) -> list[str]:
    return [part.format(**world) for part in template.split()]


def _check(case, code: int, err: str, world: dict, home: Path) -> None:
    cid, _template, want_code, phrases = case
    lines = [x for x in err.splitlines() if x.strip()]
    assert "Traceback" not in err, err
    assert code == want_code, (cid, err)
    assert len(lines) == 1, f"{cid}: expected one line on stderr, got:\n{err}"
    for phrase in phrases:
        assert phrase.format(**world) in lines[0], (cid, phrase, lines[0])
    assert not (home / "students").exists(), f"{cid}: the default student was built before the error"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SRL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SRL_PROGRESS", "off")
    return tmp_path / "home"


def _needs(case, world) -> None:
    if "{ro}" in case[1] and not world["ro"]:
        pytest.skip("no folder here refuses writes (root without /sys?)")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_mistake_is_one_line_with_exit_code(case, world, home, capsys):
    from srl_agent.cli import main

    _needs(case, world)
    code = main(_argv(case[1], world))
    out, err = capsys.readouterr()
    _check(case, code, err, world, home)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("cid", SUBPROCESS)
def test_mistake_through_the_installed_srl(cid, world, tmp_path):
    case = next(c for c in CASES if c[0] == cid)
    _needs(case, world)
    home = tmp_path / "home"
    proc = subprocess.run(srl_command() + _argv(case[1], world), capture_output=True, text=True, timeout=170,
                          env=os.environ | {"SRL_HOME": str(home)})
    _check(case, proc.returncode, proc.stderr, world, home)
    assert not proc.stdout.strip(), proc.stdout


def test_inputs_named_as_outputs_are_untouched(world):
    """The cases above that name one file as input and output must leave it as it was."""
    assert Path(world["victim"]).read_text() == Path(world["traj"]).read_text()
    assert "instance_id" in Path(world["preds"]).read_text()


def test_ids_are_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)) and set(SUBPROCESS) <= set(ids)
