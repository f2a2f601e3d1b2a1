"""The stages of `srl demo`: each one is the `srl` command a user would type (run in-process) plus the check
that tells whether its output already exists. srl_agent.demo runs them in order and prints the summary."""

from __future__ import annotations

import json
import os
from contextlib import redirect_stdout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from srl_agent.errors import SRLError
from srl_agent.resources import resource_dir

SUITE = "pypi-mutants"
REPO = Path(__file__).resolve().parents[1]
BUNDLED = resource_dir("trajectories")


class DemoStageError(SRLError, RuntimeError):
    """A stage of the demo failed; the message names the stage and the command that reruns it alone."""


@dataclass(frozen=True)
class DemoPlan:
    """How much work each stage does. QUICK and FULL below are the two sizes `srl demo` offers."""

    mode: str
    train_trajectories: int | None   # bundled train-task trajectories to verify (None = all)
    heldout_trajectories: int | None  # bundled held-out-task trajectories to verify (expert side of the report)
    val_trajectories: int             # verified train trajectories held out for eval-steps
    train_steps: int                  # SRL optimizer steps (srl_agent/resources/configs/srl_cpu.yaml otherwise)
    eval_tasks: int | None            # held-out tasks the agent is evaluated on (None = all)
    eval_max_steps: int               # agent step limit per episode
    max_new_tokens: int = 256         # per generated step, in eval-steps and eval
    quick_warm_steps: int = 100       # warm start of the student when none is cached (quick mode only)
    workers: int = 2
    max_prompt_tokens: int = 3072     # step examples longer than this (student tokens) are dropped by split

    def to_dict(self) -> dict:
        return asdict(self)


QUICK = DemoPlan("quick", train_trajectories=6, heldout_trajectories=3, val_trajectories=2, train_steps=6,
                 eval_tasks=3, eval_max_steps=4)
FULL = DemoPlan("full", train_trajectories=None, heldout_trajectories=None, val_trajectories=6, train_steps=20,
                eval_tasks=None, eval_max_steps=8)


@dataclass
class Context:
    """What the stages share: the plan, the run directory, the stage log, and facts found on the way."""

    plan: DemoPlan
    run_dir: Path
    log: Path
    trajectories: Path | None = None  # bundled trajectory file(s) override (--trajectories)
    facts: dict = field(default_factory=dict)
    run_command: Callable[[list[str]], int] | None = None  # runs one `srl` command (srl_agent.cli.demo's)

    def p(self, *parts: str) -> Path:
        return self.run_dir.joinpath(*parts)

    def rel(self, path: Path | str) -> str:
        return shown_path(path)


def shown_path(path: Path | str) -> str:
    """A path as the user would type it: relative below the current directory, absolute elsewhere."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def run_srl(ctx: Context, argv: list[str]) -> int:
    """Run one `srl` command through the context's runner; its stdout goes to the stage log, its progress bars
    (stderr) to the terminal. SRLErrors propagate to the demo, which names the stage."""
    if ctx.run_command is None:
        raise DemoStageError("the demo was started without a command runner (use `srl demo` or pass run_command)")
    with open(ctx.log, "a", encoding="utf-8") as log:
        log.write(f"\n$ srl {' '.join(argv)}\n")
        log.flush()
        with redirect_stdout(log):
            return ctx.run_command(argv)


# ------------------------------------------------------------------------------------------- set-up stages
def env_ready(ctx: Context) -> bool:
    import shutil
    import subprocess

    from srl_agent.sandbox.images import BASE_IMAGE, image_exists

    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True).returncode:
        return False
    return image_exists(BASE_IMAGE)


def env_run(ctx: Context) -> dict:
    run_srl(ctx, ["env", "setup"])
    return {}


def env_result(ctx: Context) -> dict:
    from srl_agent.sandbox.images import BASE_IMAGE

    return {"image": BASE_IMAGE}


def tasks_result(ctx: Context) -> dict:
    from srl_agent.tasks import load_suite

    tasks = load_suite(SUITE)
    return {"images": len(_package_tags()), "tasks": len(tasks), "heldout": sum(t.split == "test" for t in tasks)}


def _package_tags() -> list[str]:
    from srl_agent.tasks.images import image_tag
    from srl_agent.tasks.suite import load_recipe

    return [image_tag(spec) for spec in load_recipe(SUITE).packages]


def tasks_ready(ctx: Context) -> bool:
    from srl_agent.sandbox.images import image_exists

    return all(image_exists(t) for t in _package_tags())


def tasks_run(ctx: Context) -> dict:
    run_srl(ctx, ["tasks", "build", SUITE])
    return {"images": len(_package_tags())}


from srl_agent.demo.expert import (_package, _round_robin, bundled_digest, bundled_files,  # noqa: E402,F401
                                  expert_commands, expert_done, expert_paths, expert_run)


# ------------------------------------------------------------------------------------------------ student
def student_dir(ctx: Context) -> tuple[Path, str]:
    """Where the student is: the default `tiny` when built, else the tests' cache for this code version,
    else (to be built) the default `tiny` in full mode or a smaller warm start in quick mode."""
    from srl_agent.policy.student import SPEC_FILE, default_student_dir

    default = default_student_dir()
    if (default / SPEC_FILE).exists():
        return default, "the default student"
    shared = test_cache_dir()
    if shared is not None and (shared / SPEC_FILE).exists():
        return shared, "the tests' cached student"
    if ctx.plan.mode == "quick":
        return default.with_name(default.name + "-quick"), f"a quick student ({ctx.plan.quick_warm_steps} warm-start steps)"
    return default, "the default student"


def test_cache_dir() -> Path | None:
    """The folder `cached_student(REPO/.cache/test-students)` uses for this version of the student code."""
    from srl_agent.policy.student import student_cache_path

    if not (REPO / "tests").is_dir():
        return None
    return student_cache_path(REPO / ".cache" / "test-students")


def student_argv(ctx: Context) -> list[str]:
    path, _ = student_dir(ctx)
    argv = ["student", "init", "-o", str(path)]
    if path.name.endswith("-quick"):
        argv += ["--warm-steps", str(ctx.plan.quick_warm_steps)]
    return argv


def student_command(ctx: Context) -> list[str]:
    return ["srl " + " ".join(ctx.rel(a) if i == 3 else a for i, a in enumerate(student_argv(ctx)))]


def student_ready(ctx: Context) -> bool:
    from srl_agent.policy.student import SPEC_FILE

    path, _ = student_dir(ctx)
    ctx.facts["student"] = str(path)
    if "background" in ctx.facts:  # a build is under way: the stage waits for it (and checks how it ended)
        return False
    return (path / SPEC_FILE).exists()


def student_run(ctx: Context) -> dict:
    """Wait for the build the demo started in the background (srl_agent.demo.background), else build here."""
    import sys

    build = ctx.facts.pop("background", None)
    if build is not None:
        seconds = build.wait(lambda line: print(line, file=sys.stderr, flush=True))
        return {"background_seconds": round(seconds, 1)}
    run_srl(ctx, student_argv(ctx))
    return {}


def student_result(ctx: Context) -> dict:
    path, what = student_dir(ctx)
    return {"student": str(path), "what": what, "parameters": student_info(str(path)).get("parameters")}


def student_info(path: str) -> dict:
    record = json.loads((Path(path) / "student.json").read_text())
    return {"parameters": record.get("parameters"), "warm_start": record.get("warm_start")}


# -------------------------------------------------------------------------------------- data, training
def split_argv(ctx: Context) -> list[str]:
    return ["traj", "split", str(expert_paths(ctx)["train"]), "-o", str(ctx.p("steps")), "--val-trajectories",
            str(ctx.plan.val_trajectories), "--seed", "0", "--tokenizer", ctx.facts["student"], "--max-tokens",
            str(ctx.plan.max_prompt_tokens), "--workers", "1"]


def split_run(ctx: Context) -> dict:
    import shutil

    shutil.rmtree(ctx.p("steps"), ignore_errors=True)
    run_srl(ctx, split_argv(ctx))
    from datasets import load_from_disk

    ds = load_from_disk(str(ctx.p("steps")))
    counts = {k: len(v) for k, v in ds.items()}
    if not counts.get("validation") or not counts.get("train"):
        raise DemoStageError(f"the split left {counts} step examples; both train and validation are needed")
    return {"examples": counts}


def steps_argv(ctx: Context, model: str, out: str) -> list[str]:
    return ["eval-steps", "--model", model, "--data", str(ctx.p("steps")), "--split", "validation",
            "--max-new-tokens", str(ctx.plan.max_new_tokens), "--batch-size", "8", "--seed", "0", "-o", str(ctx.p(out))]


def steps_result(ctx: Context, name: str) -> dict:
    r = json.loads(ctx.p(name).read_text())
    return {"examples": r["examples"], "mean_reward": r["mean_reward"], "parse_rate": r["parse_rate"]}


def trained_model(ctx: Context) -> str:
    return str(ctx.p("train", "final"))


def train_argv(ctx: Context) -> list[str]:
    n = str(ctx.plan.train_steps)
    return ["train", "--method", "srl", "--data", str(ctx.p("steps")), "--model", ctx.facts["student"],
            "--output", str(ctx.p("train")), "--config", "srl_cpu", "--max-steps", n, "--save-steps", n,
            "--seed", "0"]


def train_run(ctx: Context) -> dict:
    import shutil

    shutil.rmtree(ctx.p("train"), ignore_errors=True)
    run_srl(ctx, train_argv(ctx))
    return train_result(ctx)


def train_result(ctx: Context) -> dict:
    rows = [json.loads(line) for line in ctx.p("train", "metrics.jsonl").read_text().splitlines() if line.strip()]
    rewards = [r["reward"] for r in rows if "reward" in r]
    return {"steps": ctx.plan.train_steps, "first_reward": rewards[0] if rewards else None,
            "last_reward": rewards[-1] if rewards else None,
            "mean_reward": sum(rewards) / len(rewards) if rewards else None}


# --------------------------------------------------------------------------------- evaluation, report
def eval_argv(ctx: Context) -> list[str]:
    argv = ["eval", "--model", trained_model(ctx), "--tasks", f"{SUITE}:test", "-o", str(ctx.p("eval")),
            "--max-steps", str(ctx.plan.eval_max_steps), "--max-new-tokens", str(ctx.plan.max_new_tokens),
            "--workers", str(ctx.plan.workers), "--seed", "0", "--time-limit", "300"]
    heldout = expert_paths(ctx)["heldout"]
    ids = []
    if heldout.is_file() and heldout.stat().st_size:
        argv += ["--expert", str(heldout)]
        from srl_agent.trajectory import read_trajectories

        ids = list(dict.fromkeys(t.task.instance_id for t in read_trajectories(heldout)))
    if ctx.plan.eval_tasks is not None:
        argv += ["--instance-ids", ",".join(ids[: ctx.plan.eval_tasks])] if ids else ["--limit", str(ctx.plan.eval_tasks)]
    return argv


def eval_run(ctx: Context) -> dict:
    import shutil

    shutil.rmtree(ctx.p("eval"), ignore_errors=True)
    run_srl(ctx, eval_argv(ctx))
    return eval_result(ctx)


def eval_result(ctx: Context) -> dict:
    s = json.loads(ctx.p("eval", "summary.json").read_text())
    return {k: s.get(k) for k in ("episodes", "resolved", "resolved_rate", "ci95", "mean_steps", "format_error_rate",
                                  "stop_reasons", "mean_step_reward", "not_run")}


def report_argv(ctx: Context) -> list[str]:
    argv = ["traces", "view", str(ctx.p("eval")), "-o", str(ctx.p("report.html")), "--title",
            f"srl demo ({ctx.plan.mode}): the SRL-trained tiny student on held-out tasks"]
    heldout = expert_paths(ctx)["heldout"]
    if heldout.is_file() and heldout.stat().st_size:
        argv += ["--expert", str(heldout)]
    return argv


def report_run(ctx: Context) -> dict:
    run_srl(ctx, report_argv(ctx))
    return report_result(ctx)


def report_result(ctx: Context) -> dict:
    html = ctx.p("report.html").read_text(encoding="utf-8")
    return {"report": str(ctx.p("report.html")), "kib": len(html.encode()) // 1024,
            "steps_shown": html.count('<details class="step"')}
