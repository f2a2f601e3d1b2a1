"""The agent loop: the policy thinks and makes one call, the sandbox runs it, the observation goes back.

One episode = one task in one sandbox, played by the episode core (`srl_agent.eval.episode.Episode`, shared with RLVR's
rollouts) with the "last-k" context: the prompt is built exactly as in training
(`srl_agent.prompts.build_step_messages` over the student's own steps) and the output is parsed with the reward's
parser. This module adds what evaluation needs around the core: the policy call, the prompt-size check, the
Trace, and the grade. Whatever the stop reason, the work dir's diff is the episode's patch (SWE-agent's
autosubmit) and is graded by running the task's tests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from srl_agent.eval.episode import (INTERRUPTED, POLICY_ERROR, SANDBOX_ERROR, Episode, EpisodeRules, Turn,
                               format_error_message)
from srl_agent.errors import ConfigError, SandboxError
from srl_agent.grade_report import GradeReport
from srl_agent.policy.base import Messages, Policy, PolicyError, start_episode
from srl_agent.prompts import PromptConfig
from srl_agent.task import Task
from srl_agent.traces.schema import Trace, TraceStep
from srl_agent.trajectory import Step

__all__ = ["Agent", "AgentConfig", "format_error_message", "run_episode"]


@dataclass
class AgentConfig:
    """Limits of one episode. `max_prompt_tokens` applies when the policy can count tokens."""

    max_steps: int = 30
    max_prompt_chars: int | None = 200_000
    max_prompt_tokens: int | None = None
    time_limit_s: float | None = None
    command_timeout: float | None = None
    grade: bool = True
    prompt: PromptConfig = field(default_factory=PromptConfig)

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ConfigError("max_steps must be >= 1")
        for name in ("max_prompt_chars", "max_prompt_tokens", "time_limit_s", "command_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be > 0 (or None for no limit)")


class Agent:
    """Runs one policy in one sandbox; `run(task)` plays an episode and returns its Trace.

    `prefix`: expert steps replayed in the sandbox before the policy's first call and shown as its history (an
    expert-prefix episode); the policy's own calls still count against `max_steps`, the grade is of the whole
    diff from the task's start state."""

    def __init__(self, policy: Policy, sandbox, config: AgentConfig | None = None, *,
                 grader: Callable | None = None, clock: Callable[[], float] = time.monotonic,
                 prefix: Sequence[Step] = (), should_stop: Callable[[], bool] | None = None) -> None:
        self.policy, self.sandbox = policy, sandbox
        self.should_stop = should_stop  # a Ctrl-C request: the episode ends before its next step, ungraded
        self.config = config or AgentConfig()
        self.grader = grader
        self.clock = clock
        self.prefix = list(prefix)

    def rules(self) -> EpisodeRules:
        cfg = self.config
        return EpisodeRules(max_steps=cfg.max_steps, time_limit_s=cfg.time_limit_s,
                            command_timeout=cfg.command_timeout, context="last-k", prompt=cfg.prompt)

    def run(self, task: Task) -> Trace:
        policy = start_episode(self.policy, task)
        trace = Trace(instance_id=task.instance_id, problem_statement=task.problem_statement,
                      model=getattr(policy, "name", type(policy).__name__))
        episode = Episode(task.problem_statement, self.sandbox, self.rules(), prefix=self.prefix, clock=self.clock)
        if self.prefix:
            trace.meta["prefix_steps"] = len(self.prefix)
        episode.start()
        while not episode.done:
            self.step(episode, policy, trace)
        trace.stop_reason, trace.stop_detail = episode.stop.reason, episode.stop.detail
        if trace.stop_reason == INTERRUPTED:
            return trace
        trace.patch = self._final_patch(trace)
        if self.config.grade and trace.stop_reason == SANDBOX_ERROR:  # the environment failed: nothing to grade
            trace.grade = GradeReport.infrastructure_error(task.instance_id, trace.stop_detail or "the sandbox failed")
        elif self.config.grade:
            trace.grade = self._grade(task, trace.patch)
        trace.wall_seconds = round(self.clock() - episode.started, 3)
        return trace

    def step(self, episode: Episode, policy: Policy, trace: Trace) -> None:
        """One step of the core: limits, the prompt and its size, the policy's output, then `episode.act`."""
        if self.should_stop is not None and self.should_stop():
            episode.end(INTERRUPTED, "stopped by Ctrl-C")
            return
        if episode.check_limits():
            return
        messages = episode.messages()
        if self._check_context(episode, policy, messages):
            return
        t0 = self.clock()
        try:
            raw = policy.generate(messages)
        except PolicyError as exc:
            episode.end(POLICY_ERROR, str(exc))
            return
        gen_seconds = round(self.clock() - t0, 4)
        trace.steps.append(_trace_step(episode.act(raw), messages, gen_seconds))

    def _check_context(self, episode: Episode, policy: Policy, messages: Messages):
        cfg = self.config
        if episode.context_limit(sum(len(m["content"]) for m in messages), cfg.max_prompt_chars, "chars"):
            return episode.stop
        # A local model also has its own window (positions minus the tokens it may write).
        limits = [x for x in (cfg.max_prompt_tokens, getattr(policy, "max_prompt_tokens", None)) if x]
        count = getattr(policy, "count_tokens", None)
        if limits and callable(count):
            return episode.context_limit(count(messages), min(limits), "tokens")
        return None

    def _final_patch(self, trace: Trace) -> str:
        try:
            return self.sandbox.diff()
        except SandboxError as exc:  # TooLargeError included: graded as no patch
            if not trace.stop_detail:
                trace.stop_detail = f"could not read the patch: {exc}"
            return ""

    def _grade(self, task: Task, patch: str) -> GradeReport:
        grader = self.grader or getattr(self.sandbox, "grade", None)  # a Ray sandbox grades on its own node
        if grader is None:
            from srl_agent.grading import grade_patch as grader
        try:
            report = grader(task, patch)  # a fresh container from the task image, never this sandbox
        except SandboxError as exc:
            return GradeReport.infrastructure_error(task.instance_id, str(exc))
        if isinstance(report, dict):  # a user's grader may answer with our JSON
            report = GradeReport.from_dict(report, instance_id=task.instance_id)
        return replace(report, test_output="")  # the test log stays in the grading logs, not in the trace


def _trace_step(turn: Turn, prompt: Messages, gen_seconds: float) -> TraceStep:
    action = turn.action
    return TraceStep(index=turn.index, raw_output=turn.raw, gen_seconds=gen_seconds, prompt=prompt,
                     think=turn.think, format_error=turn.format_error, observation=turn.observation,
                     action=action.render() if action else None, tool=action.tool if action else None,
                     exit_code=turn.exit_code, timed_out=turn.timed_out, exec_seconds=turn.exec_seconds)


def run_episode(task: Task, policy: Policy, sandbox, config: AgentConfig | None = None, *,
                grader: Callable | None = None) -> Trace:
    """Play one episode of `policy` on `task` in `sandbox` (at the task's start state) and grade it."""
    return Agent(policy, sandbox, config, grader=grader).run(task)
