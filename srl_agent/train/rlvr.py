"""`srl train --method rlvr`: GRPO over whole agent episodes in task sandboxes, reward 1 when the patch resolves.

Why TRL's `rollout_func` (and not `environment_factory` or a fork): an episode here is the project's own episode
core, the one evaluation runs (srl_agent.eval.episode: think + one XML-style call, parsed by srl_agent.actions, run by
sandbox.execute, the observation back, the same stop rules), graded by running the task's tests. `environment_factory` drives tools through the chat template's native
tool-calling (JSON tool calls, methods as tools) and would need the model and prompts to switch to that format,
so training and evaluation would no longer see the same turns. `rollout_func` hands us the batch's prompts and
takes back exactly what GRPO needs: prompt ids, completion ids, `env_mask` (0 on the tokens the environment
wrote, which TRL keeps out of the loss) and extra fields for the reward function. Generation batching,
advantages, the clipped loss, logging, checkpoints and vLLM weight sync stay TRL's. The DAPO group filter
(0 < #correct < G) reuses dynamic.py's trainer, which refills the batch with fresh tasks.

The dataset's `prompt` column is the task's instance id (a plain string): `rollout_func` receives only prompts,
and the real prompt is built per episode (an expert prefix changes it).
"""

from __future__ import annotations

import json
import logging
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from srl_agent.errors import ConfigError, InputError
from srl_agent.progress import trainer_callback
from srl_agent.prompts import PromptConfig
from srl_agent.train.card import write_model_card
from srl_agent.train.config import METHOD_OF, SRLConfig
from srl_agent.train.dynamic import DynamicSampling, filter_groups, partially_correct
from srl_agent.train.rollout import (EpisodeLimits, EpisodeResult, EpisodeRunner, EpisodeSpec, ModelActor,
                                     TaskSandboxes)
from srl_agent.train.srl import TrainResult, grpo_args, load_policy, metrics_callback, peft_config, prepare_run

log = logging.getLogger(__name__)

SCHEDULES = ("uniform", "reverse")


@dataclass(frozen=True)
class ExpertPrefix:
    """Expert-prefix rollouts (off by default): with probability `probability` a prompt group starts after the
    first k actions of a verified expert trajectory of its task (`trajectories`: JSONL file or folder), all G
    episodes of the group with the same k. `schedule`: `uniform` draws k from 0..N-1 (N = the expert's actions
    before its submit); `reverse` starts near the end and moves back: at training step t, k is drawn from
    [N-1-w, N-1] with w growing linearly from 0 to N over `anneal_steps` (a reverse curriculum)."""

    enabled: bool = False
    trajectories: str = "trajectories"
    probability: float = 1.0
    schedule: str = "reverse"
    anneal_steps: int = 50

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"prefix.schedule must be one of {', '.join(SCHEDULES)}; got {self.schedule!r}")
        if not 0 <= self.probability <= 1:
            raise ConfigError("prefix.probability must be in [0, 1]")
        if self.anneal_steps < 1:
            raise ConfigError("prefix.anneal_steps must be >= 1")

    def sample_k(self, n_actions: int, step: int, rng: random.Random) -> int:
        """How many expert actions to replay, for an expert with `n_actions` actions before its submit."""
        if n_actions <= 0 or rng.random() >= self.probability:
            return 0
        if self.schedule == "uniform":
            return rng.randint(0, n_actions)
        width = min(n_actions, math.floor(n_actions * step / self.anneal_steps))
        return rng.randint(n_actions - width, n_actions)


@dataclass(frozen=True)
class OutcomeFilter(DynamicSampling):
    """The DAPO filter for outcome rewards: keep a group when 0 < #correct < G among its scored episodes
    (infrastructure failures are not counted). `max_rounds` caps the refills per step, as for SRL."""

    max_rounds: int = 1

    def keep(self, group: Sequence[float]) -> bool:
        scored = [r for r in group if not math.isnan(r)]
        return len(scored) >= 2 and partially_correct(scored)


@dataclass
class RLVRConfig(SRLConfig):
    """RLVR: GRPO with the outcome reward over multi-turn episodes. `data` is a task suite (bundled name or
    tasks file) and `split` its split. GRPO settings are SRL's fields (G, temperature, lr, ...), with the paper's
    RLVR batch of 128 prompts; `max_completion_length` is the budget of one student turn. `reward` (the SRL
    step reward) is not used. `dynamic_sampling` is the DAPO filter (see OutcomeFilter)."""

    data: str = "pypi-mutants"
    prompts_per_batch: int = 128
    tasks: list[str] | None = None
    max_episode_steps: int = 8
    episode_timeout_s: float = 300.0
    command_timeout: float = 60.0
    max_episode_tokens: int = 4096
    context_rounds: int = 2           # expert-prefix rounds shown in the prompt (the student's own turns all stay)
    rollout_context: str = "growing"  # the episode core's context; the one TRL can train on (docs/rlvr.md)
    max_observation_chars: int = 2000
    sandbox_backend: str = "local"
    sandbox_address: str | None = None
    sandboxes_per_task: int | None = None  # default: num_generations (a group's episodes run side by side)
    max_open_tasks: int = 2
    workers: int = 4
    prefix: ExpertPrefix = field(default_factory=ExpertPrefix)
    dynamic_sampling: DynamicSampling = field(default_factory=OutcomeFilter)

    def __post_init__(self) -> None:
        if isinstance(self.prefix, dict):
            self.prefix = ExpertPrefix(**self.prefix)
        if isinstance(self.dynamic_sampling, dict):
            self.dynamic_sampling = OutcomeFilter(**self.dynamic_sampling)
        elif type(self.dynamic_sampling) is DynamicSampling:
            d = self.dynamic_sampling
            self.dynamic_sampling = OutcomeFilter(d.enabled, d.epsilon, d.max_rounds)
        super().__post_init__()
        if self.max_episode_steps < 1 or self.episode_timeout_s <= 0 or self.max_episode_tokens < 64:
            raise ConfigError("max_episode_steps >= 1, episode_timeout_s > 0 and max_episode_tokens >= 64 please")
        if self.rollout_context != "growing":
            raise ConfigError(f"rollout_context {self.rollout_context!r}: RLVR trains on the growing context only. "
                              "TRL's rollout_func takes one (prompt, completion) row per episode, and a last-k "
                              "episode is one prompt per step (see docs/rlvr.md, 'Context')")
        if self.max_completion_length >= self.max_episode_tokens:
            raise ConfigError("max_completion_length (one turn) must be below max_episode_tokens (the episode)")

    def limits(self) -> EpisodeLimits:
        return EpisodeLimits(max_steps=self.max_episode_steps, timeout_s=self.episode_timeout_s,
                             max_tokens=self.max_episode_tokens, max_new_tokens=self.max_completion_length,
                             command_timeout=self.command_timeout, context=self.rollout_context,
                             prompt=PromptConfig(context_rounds=self.context_rounds,
                                                 max_observation_chars=self.max_observation_chars))


METHOD_OF[RLVRConfig] = "rlvr"


# ------------------------------------------------------------------------------------------------------ data
def load_tasks(config: RLVRConfig):
    from srl_agent.tasks import load_suite

    tasks = load_suite(config.data, config.split)
    if config.tasks:
        wanted = set(config.tasks)
        tasks = [t for t in tasks if t.instance_id in wanted]
        missing = wanted - {t.instance_id for t in tasks}
        if missing:
            raise InputError(f"tasks not in suite {config.data} [{config.split}]: {', '.join(sorted(missing))}")
    if not tasks:
        raise InputError(f"suite {config.data} has no tasks in split {config.split!r}")
    return tasks


def task_dataset(tasks):
    from datasets import Dataset

    return Dataset.from_list([{"prompt": t.instance_id, "instance_id": t.instance_id} for t in tasks])


def expert_steps(path: str | Path, task_ids: set[str]) -> dict[str, list]:
    """The steps before the submit of the first resolving trajectory of each task (expert prefixes)."""
    from srl_agent.actions import SUBMIT
    from srl_agent.trajectory import read_trajectories

    path = Path(path)
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise InputError(f"prefix.trajectories: no trajectory JSONL at {path} (make some with `srl traj generate`)")
    out: dict[str, list] = {}
    for f in files:
        for traj in read_trajectories(f):
            iid = traj.task.instance_id
            if iid in task_ids and iid not in out and traj.resolved:
                steps = list(traj.steps)
                while steps and steps[-1].action.tool == SUBMIT:
                    steps.pop()
                out[iid] = steps
    return out


# --------------------------------------------------------------------------------------------- rollout + reward
def outcome_reward(completions, episode_reward=None, **kwargs) -> list[float | None]:
    """The episode's outcome (1 resolved, 0 not, None = infrastructure failure, left out of its group)."""
    if episode_reward is None:
        raise ConfigError("outcome_reward needs the `episode_reward` field that the RLVR rollout function returns")
    return [None if r is None else float(r) for r in episode_reward]


outcome_reward.__name__ = "outcome"


class RLVRRollout:
    """TRL `rollout_func`: one episode per input row (rows come G to a group), played by the trainer's model."""

    def __init__(self, config: RLVRConfig, tasks, runner: EpisodeRunner, *, prefixes: dict | None = None,
                 actor=None, log_path: Path | None = None) -> None:
        self.config, self.runner, self.actor = config, runner, actor
        self.tasks = {t.instance_id: t for t in tasks}
        self.prefixes = prefixes or {}
        self.log_path = log_path
        self.last: list[EpisodeResult] = []

    def specs(self, prompts: Sequence[str], step: int, G: int) -> list[EpisodeSpec]:
        specs, k_of_group = [], {}
        for i, iid in enumerate(prompts):
            task = self.tasks.get(iid)
            if task is None:
                raise InputError(f"rollout prompt {iid!r} is not a task id of this run")
            group = i // G
            expert = self.prefixes.get(iid, [])
            if group not in k_of_group:
                rng = random.Random(f"{self.config.seed}:{step}:{group}:{iid}")
                k_of_group[group] = self.config.prefix.sample_k(len(expert), step, rng) if self.config.prefix.enabled else 0
            specs.append(EpisodeSpec(task, tuple(expert[:k_of_group[group]])))
        return specs

    def __call__(self, prompts: list, trainer) -> dict[str, Any]:
        step = trainer.state.global_step
        specs = self.specs(prompts, step, trainer.num_generations)
        if self.actor is not None:
            results = self.runner.run(specs, self.actor)
        else:
            from trl.models.utils import unwrap_model_for_generation

            # As TRL's own generation: gradient checkpointing off (so the KV cache works), ZeRO-3 params gathered.
            with unwrap_model_for_generation(trainer.model_wrapped, trainer.accelerator,
                                             gather_deepspeed3_params=trainer.args.ds3_gather_for_generation,
                                             gradient_checkpointing_kwargs=trainer.args.gradient_checkpointing_kwargs
                                             ) as model:
                actor = ModelActor(model, trainer.processing_class, max_new_tokens=self.config.max_completion_length,
                                   temperature=self.config.temperature, top_p=self.config.top_p)
                results = self.runner.run(specs, actor)
        self.last = results
        self._log(results, step, trainer)
        return {"prompt_ids": [r.prompt_ids for r in results], "completion_ids": [r.completion_ids for r in results],
                "logprobs": None, "env_mask": [r.env_mask for r in results],
                "episode_reward": [r.reward for r in results], "prefix_k": [r.prefix_k for r in results]}

    def _log(self, results: list[EpisodeResult], step: int, trainer) -> None:
        infra = [r for r in results if r.reward is None]
        for r in infra:
            log.warning("[rlvr] step %d: %s: infrastructure failure, left out of its group: %s", step, r.instance_id,
                        r.infra_error)
        metrics = trainer._metrics["train"] if hasattr(trainer, "_metrics") else None
        if metrics is not None:
            scored = [r for r in results if r.reward is not None]
            metrics["rlvr/infra_failures"].append(float(len(infra)))
            metrics["rlvr/resolved_rate"].append(sum(r.resolved for r in scored) / max(1, len(scored)))
            metrics["rlvr/mean_steps"].append(sum(r.steps for r in results) / max(1, len(results)))
            metrics["rlvr/submitted_frac"].append(sum(r.stop_reason == "submitted" for r in results) / len(results))
            metrics["rlvr/mean_prefix_k"].append(sum(r.prefix_k for r in results) / len(results))
        if self.log_path is not None:
            with self.log_path.open("a") as f:
                for r in results:
                    f.write(json.dumps({"step": step, **r.log_record()}) + "\n")


def make_rlvr_trainer_class():
    """The dynamic-sampling GRPO trainer, with rewards of infrastructure failures kept as NaN for the filter."""
    from srl_agent.train.dynamic import make_trainer_class

    base = make_trainer_class()

    class RLVRTrainer(base):
        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            unscored = rewards_per_func.isnan().all(dim=1).tolist()
            self._last_rewards = [math.nan if u else r for r, u in zip(self._last_rewards, unscored)]
            return rewards_per_func

    return RLVRTrainer


def group_keep_mask(rewards: Sequence[float | None], G: int) -> list[bool]:
    """Which groups the DAPO filter keeps (None = infrastructure failure): dynamic.py's filter_groups."""
    values = [math.nan if r is None else float(r) for r in rewards]
    return filter_groups(values, G, OutcomeFilter().keep)


# ----------------------------------------------------------------------------------------------------- train
def build_rlvr(config: RLVRConfig, *, actor=None, sandboxes: TaskSandboxes | None = None, grader=None,
               model=None, tokenizer=None):
    """(trainer, rollout, sandboxes) ready to train; `actor`/`sandboxes`/`grader` replace the real ones in tests."""
    tasks = load_tasks(config)
    if model is None:
        model, tokenizer = load_policy(config)
    prefixes = expert_steps(config.prefix.trajectories, {t.instance_id for t in tasks}) if config.prefix.enabled else {}
    sandboxes = sandboxes or TaskSandboxes(backend=config.sandbox_backend, address=config.sandbox_address,
                                           per_task=config.sandboxes_per_task or config.num_generations,
                                           max_open_tasks=config.max_open_tasks)
    runner = EpisodeRunner(tokenizer, sandboxes, config.limits(), grader=grader, workers=config.workers)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    rollout = RLVRRollout(config, tasks, runner, prefixes=prefixes, actor=actor, log_path=out / "episodes.jsonl")
    args = grpo_args(config)
    cls = make_rlvr_trainer_class()
    trainer = cls(model=model, reward_funcs=[outcome_reward], args=args, train_dataset=task_dataset(tasks),
                  processing_class=tokenizer, peft_config=peft_config(config), rollout_func=rollout,
                  callbacks=[metrics_callback(out / "metrics.jsonl"), trainer_callback()],
                  dynamic_sampling=config.dynamic_sampling)
    return trainer, rollout, sandboxes


def train_rlvr(config: RLVRConfig, *, resume: bool = False, **replace: Any) -> TrainResult:
    """Run RLVR and save the final model in output_dir/final. Episodes are logged to output_dir/episodes.jsonl."""
    import os

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    ckpt, metrics = prepare_run(config, resume)
    trainer, _rollout, sandboxes = build_rlvr(config, **replace)
    try:
        trainer.train(resume_from_checkpoint=ckpt)
    finally:
        sandboxes.close()
    final = Path(config.output_dir) / "final"
    trainer.save_model(str(final))
    trainer.processing_class.save_pretrained(str(final))
    write_model_card(config, "rlvr", final, global_step=trainer.state.global_step, examples=len(trainer.train_dataset),
                     unit="tasks", resumed_from=ckpt, metrics_file=metrics)
    return TrainResult("rlvr", config.output_dir, trainer.state.global_step, str(final), str(metrics), ckpt)
