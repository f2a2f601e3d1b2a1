"""The agent loop: the policy thinks and makes one call, the sandbox runs it, the observation goes back.

One episode = one task in one sandbox. The prompt is built exactly as in training
(`srl_agent.prompts.build_step_messages` over the student's own steps), the output is parsed with the
reward's parser, and the loop ends by raising an `EpisodeEnd` that carries the stop reason. Whatever the
reason, the work dir's diff is the episode's patch (SWE-agent's autosubmit) and is graded by running the
task's tests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from srl_agent.actions import SUBMIT, Action, format_completion, parse_completion
from srl_agent.errors import CommandTimeoutError, ConfigError, SandboxError, SRLError
from srl_agent.grade_report import GradeReport
from srl_agent.policy.base import Messages, Policy, PolicyError, start_episode
from srl_agent.prompts import PromptConfig, build_step_messages
from srl_agent.task import Task
from srl_agent.traces.schema import Trace, TraceStep
from srl_agent.trajectory import Step

_EXAMPLE = format_completion("I should look at the repository layout first.", Action.bash("ls"))
# Malformed outputs are shown back to the model (at most this many since its last well-formed step).
_MAX_SHOWN_ERRORS = 2


def format_error_message(error: str) -> str:
    """The observation a malformed output gets: what was wrong and the exact format expected."""
    return (f"Your output could not be parsed: {error}.\n"
            "Reply with your reasoning inside <think>...</think>, then exactly one function call and "
            f"nothing else, for example:\n{_EXAMPLE}")


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


class EpisodeEnd(SRLError):
    """Raised inside the loop to end the episode; carries the stop reason (a value of STOP_REASONS). Control flow,
    not a failure: the loop catches it and records the reason (under SRLError like every exception raised here)."""

    reason = ""

    def __init__(self, detail: str = "", reason: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if reason is not None:
            self.reason = reason


class Submitted(EpisodeEnd):
    reason = "submitted"


class LimitsExceeded(EpisodeEnd):
    """reason is step_limit, context_limit or time_limit."""


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
        self.history: list[Step] = []
        self.recent_errors: list[tuple[str, str]] = []  # (raw output, error) since the last good step

    def run(self, task: Task) -> Trace:
        policy = start_episode(self.policy, task)
        self.history, self.recent_errors = [], []
        trace = Trace(instance_id=task.instance_id, problem_statement=task.problem_statement,
                      model=getattr(policy, "name", type(policy).__name__))
        started = self.clock()
        try:
            self._replay_prefix(trace)
            while True:
                self.step(task, policy, trace, started)
        except EpisodeEnd as end:
            trace.stop_reason, trace.stop_detail = end.reason, end.detail
        if trace.stop_reason == "interrupted":
            return trace
        trace.patch = self._final_patch(trace)
        if self.config.grade and trace.stop_reason == "sandbox_error":  # the environment failed: nothing to grade
            trace.grade = GradeReport.infrastructure_error(task.instance_id, trace.stop_detail or "the sandbox failed")
        elif self.config.grade:
            trace.grade = self._grade(task, trace.patch)
        trace.wall_seconds = round(self.clock() - started, 3)
        return trace

    def _replay_prefix(self, trace: Trace) -> None:
        """Run the expert prefix's actions; the history shows the observations this sandbox gave."""
        for step in self.prefix:
            try:
                obs = self.sandbox.execute(step.action, timeout=self.config.command_timeout)
            except SandboxError as exc:  # timeouts included: a prefix that does not replay is the sandbox's fault
                raise EpisodeEnd(f"could not replay the expert prefix: {exc}", "sandbox_error") from None
            self.history.append(Step(thought=step.thought, action=step.action, observation=obs.output,
                                     exit_code=obs.exit_code))
        if self.prefix:
            trace.meta["prefix_steps"] = len(self.prefix)

    def messages(self, task: Task) -> list[dict]:
        """The prompt for the next step: the training prompt over the own well-formed steps, plus the
        latest malformed outputs and their error observations (training data never has those)."""
        msgs = [dict(m) for m in build_step_messages(task.problem_statement, self.history, self.config.prompt)]
        for raw, error in self.recent_errors[-_MAX_SHOWN_ERRORS:]:
            msgs.append({"role": "assistant", "content": raw})
            msgs.append({"role": "user", "content": "OBSERVATION:\n" + format_error_message(error)})
        return msgs

    def step(self, task: Task, policy: Policy, trace: Trace, started: float) -> None:
        cfg = self.config
        if self.should_stop is not None and self.should_stop():
            raise EpisodeEnd("stopped by Ctrl-C", "interrupted")
        if len(trace.steps) >= cfg.max_steps:
            raise LimitsExceeded(f"{cfg.max_steps} steps without submitting", "step_limit")
        if cfg.time_limit_s is not None and self.clock() - started > cfg.time_limit_s:
            raise LimitsExceeded(f"over {cfg.time_limit_s:g}s of wall-clock time", "time_limit")
        messages = self.messages(task)
        self._check_context(policy, messages)
        t0 = self.clock()
        try:
            raw = policy.generate(messages)
        except PolicyError as exc:
            raise EpisodeEnd(str(exc), "policy_error") from None
        record = TraceStep(index=len(trace.steps), raw_output=raw, gen_seconds=round(self.clock() - t0, 4),
                           prompt=messages)
        trace.steps.append(record)
        parsed = parse_completion(raw)
        record.think = parsed.think
        if not parsed.ok:
            record.format_error = parsed.error
            record.observation = format_error_message(parsed.error or "malformed output")
            self.recent_errors.append((raw, parsed.error or "malformed output"))
            return
        action = parsed.action
        record.action, record.tool = action.render(), action.tool
        self._execute(action, record)
        self.recent_errors = []
        self.history.append(Step(thought=(parsed.think or "").strip(), action=action,
                                 observation=record.observation, exit_code=record.exit_code))
        if action.tool == SUBMIT:
            raise Submitted("the policy submitted")

    def _check_context(self, policy: Policy, messages: Messages) -> None:
        cfg = self.config
        chars = sum(len(m["content"]) for m in messages)
        if cfg.max_prompt_chars is not None and chars > cfg.max_prompt_chars:
            raise LimitsExceeded(f"prompt of {chars} chars > {cfg.max_prompt_chars}", "context_limit")
        # A local model also has its own window (positions minus the tokens it may write).
        limits = [x for x in (cfg.max_prompt_tokens, getattr(policy, "max_prompt_tokens", None)) if x]
        count = getattr(policy, "count_tokens", None)
        if limits and callable(count):
            tokens, limit = count(messages), min(limits)
            if tokens > limit:
                raise LimitsExceeded(f"prompt of {tokens} tokens > {limit}", "context_limit")

    def _execute(self, action: Action, record: TraceStep) -> None:
        try:
            obs = self.sandbox.execute(action, timeout=self.config.command_timeout)
        except CommandTimeoutError as exc:
            # A command that outlives its timeout is the model's problem, not the sandbox's: tell it.
            record.observation, record.timed_out = f"The command timed out: {exc}", True
            return
        except SandboxError as exc:
            record.observation = f"[sandbox error: {exc}]"
            raise EpisodeEnd(str(exc), "sandbox_error") from None
        record.observation = obs.output
        record.exit_code, record.timed_out = obs.exit_code, bool(obs.timed_out)
        record.exec_seconds = round(float(obs.duration or 0.0), 4)

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


def run_episode(task: Task, policy: Policy, sandbox, config: AgentConfig | None = None, *,
                grader: Callable | None = None) -> Trace:
    """Play one episode of `policy` on `task` in `sandbox` (at the task's start state) and grade it."""
    return Agent(policy, sandbox, config, grader=grader).run(task)
