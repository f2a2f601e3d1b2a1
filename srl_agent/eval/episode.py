"""The episode core shared by evaluation and RLVR: policy output -> parse -> execute -> observe -> stop rules.

One `Episode` is one task in one runtime (a sandbox: `execute(action, timeout=)`, `diff()`). Whoever drives it
asks for the next prompt (`messages()`), gets the policy's output however it likes (one `Policy.generate` call in
evaluation, a batched `generate` over many episodes in RLVR) and hands it to `act(raw)`, which parses it, runs the
call and decides whether the episode is over. Every stop rule, the format-error message, the timeout message and
the observation text live here, once, so evaluation and RL training cannot drift apart.

The context strategy is the one thing the two callers may choose differently (`context`):
- "last-k": every prompt is rebuilt with `srl_agent.prompts.build_step_messages` from the last `context_rounds`
  well-formed rounds (calls without their reasoning), plus the latest malformed outputs and their error
  observations. This is what SRL trains on and what evaluation measures.
- "growing": one conversation that only grows: the task (with any expert-prefix rounds, shown as in last-k), then
  every raw output of the policy and every observation. A single token sequence (RLVR's, with `env_mask`) is
  exactly this conversation rendered by the chat template.
In both, the observation turn that follows an output is the same text (`Turn.feedback`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from srl_agent.actions import SUBMIT, Action, format_completion, parse_completion
from srl_agent.errors import CommandTimeoutError, ConfigError, SandboxError
from srl_agent.prompts import PromptConfig, build_step_messages, truncate_middle
from srl_agent.trajectory import Step

CONTEXTS = ("last-k", "growing")
# Why an episode can end here (a subset of srl_agent.traces.STOP_REASONS; "policy_error" and "interrupted" are
# decided by the caller, which owns the policy and the Ctrl-C flag).
SUBMITTED, STEP_LIMIT, TIME_LIMIT, CONTEXT_LIMIT = "submitted", "step_limit", "time_limit", "context_limit"
SANDBOX_ERROR, POLICY_ERROR, INTERRUPTED = "sandbox_error", "policy_error", "interrupted"

_EXAMPLE = format_completion("I should look at the repository layout first.", Action.bash("ls"))
# Malformed outputs shown back to the model in last-k (at most this many since its last well-formed step).
MAX_SHOWN_ERRORS = 2


def format_error_message(error: str) -> str:
    """The observation a malformed output gets: what was wrong and the exact format expected."""
    return (f"Your output could not be parsed: {error}.\n"
            "Reply with your reasoning inside <think>...</think>, then exactly one function call and "
            f"nothing else, for example:\n{_EXAMPLE}")


def timeout_message(exc: Exception) -> str:
    """The observation of a call that outlived its timeout: the model's problem, not the sandbox's, so tell it."""
    return f"The command timed out: {exc}"


def observation_message(text: str, prompt: PromptConfig) -> str:
    """The user turn that carries an observation (the same text `build_step_messages` renders for a round)."""
    return "OBSERVATION:\n" + truncate_middle(text, prompt.max_observation_chars)


@dataclass(frozen=True)
class Stop:
    """Why the episode ended (a value of srl_agent.traces.STOP_REASONS) and a human-readable detail."""

    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Turn:
    """One policy output, processed: what it parsed into (or why not), what the runtime answered, and the user
    turn that follows it (`feedback`); `stop` is set when this turn ended the episode."""

    index: int
    raw: str
    think: str | None = None
    action: Action | None = None
    format_error: str | None = None
    observation: str = ""
    feedback: str = ""
    exit_code: int | None = None
    timed_out: bool = False
    exec_seconds: float = 0.0
    stop: Stop | None = None


@dataclass(frozen=True)
class EpisodeRules:
    """The limits and the context of an episode. `max_steps`: policy outputs (malformed ones count);
    `time_limit_s`: wall time from the start (None: no limit); `command_timeout`: per call (None: the runtime's)."""

    max_steps: int = 30
    time_limit_s: float | None = None
    command_timeout: float | None = None
    context: str = "last-k"
    prompt: PromptConfig = field(default_factory=PromptConfig)

    def __post_init__(self) -> None:
        if self.context not in CONTEXTS:
            raise ConfigError(f"context must be one of {', '.join(CONTEXTS)}; got {self.context!r}")
        if self.max_steps < 1:
            raise ConfigError("max_steps must be >= 1")


def run_call(runtime: Any, action: Action, timeout: float | None) -> tuple[Any | None, str | None, Stop | None]:
    """Execute one call: (observation, timeout text, None), or (None, None, a sandbox_error Stop)."""
    try:
        return runtime.execute(action, timeout=timeout), None, None
    except CommandTimeoutError as exc:
        return None, timeout_message(exc), None
    except (SandboxError, OSError) as exc:  # the environment failed, not the policy
        return None, None, Stop(SANDBOX_ERROR, str(exc))


class Episode:
    """One episode in progress. `start()` replays the expert prefix, then per step: `check_limits()`, the caller's
    own context check (`context_limit`), `messages()`, the policy, `act(raw)`; `stop` is set once it is over."""

    def __init__(self, problem_statement: str, runtime: Any, rules: EpisodeRules = EpisodeRules(), *,
                 prefix: Sequence[Step] = (), clock: Callable[[], float] = time.monotonic) -> None:
        self.problem_statement, self.runtime, self.rules = problem_statement, runtime, rules
        self.prefix, self.clock = list(prefix), clock
        self.started = clock()
        self.history: list[Step] = []  # well-formed rounds (the prefix's, then the policy's own)
        self.turns: list[Turn] = []
        self.stop: Stop | None = None
        self._errors: list[tuple[str, str]] = []  # last-k: (raw output, feedback) since the last good step
        # growing: the conversation so far (the task alone until `start()` adds the prefix's rounds)
        self._chat = [dict(m) for m in build_step_messages(problem_statement, [], rules.prompt)]

    @property
    def done(self) -> bool:
        return self.stop is not None

    @property
    def format_errors(self) -> int:
        return sum(t.format_error is not None for t in self.turns)

    def end(self, reason: str, detail: str = "") -> Stop:
        if self.stop is None:
            self.stop = Stop(reason, detail)
        return self.stop

    def start(self) -> Stop | None:
        """Replay the expert prefix in the runtime; the rounds shown are the observations this runtime gave."""
        for step in self.prefix:
            obs, timed_out, failed = run_call(self.runtime, step.action, self.rules.command_timeout)
            if obs is None:  # a prefix that does not replay (timeouts included) is the sandbox's fault
                self.end(SANDBOX_ERROR, f"could not replay the expert prefix: {failed.detail if failed else timed_out}")
                break
            self.history.append(Step(thought=step.thought, action=step.action, observation=obs.output,
                                     exit_code=obs.exit_code))
        self._chat = [dict(m) for m in build_step_messages(self.problem_statement, self.history, self.rules.prompt)]
        return self.stop

    def check_limits(self) -> Stop | None:
        """The step and time limits, checked before each step."""
        if self.stop is None and len(self.turns) >= self.rules.max_steps:
            self.end(STEP_LIMIT, f"{self.rules.max_steps} steps without submitting")
        limit = self.rules.time_limit_s
        if self.stop is None and limit is not None and self.clock() - self.started > limit:
            self.end(TIME_LIMIT, f"over {limit:g}s of wall-clock time")
        return self.stop

    def context_limit(self, size: int, limit: int | None, unit: str) -> Stop | None:
        """End the episode when the next prompt (`size` chars or tokens, as the caller counts) is over `limit`."""
        if self.stop is None and limit is not None and size > limit:
            self.end(CONTEXT_LIMIT, f"prompt of {size} {unit} > {limit}")
        return self.stop

    def messages(self) -> list[dict]:
        """The prompt for the next policy output, built by the episode's context strategy."""
        if self.rules.context == "growing":
            return [dict(m) for m in self._chat]
        msgs = [dict(m) for m in build_step_messages(self.problem_statement, self.history, self.rules.prompt)]
        for raw, feedback in self._errors[-MAX_SHOWN_ERRORS:]:
            msgs += [{"role": "assistant", "content": raw}, {"role": "user", "content": feedback}]
        return msgs

    def act(self, raw: str) -> Turn:
        """Parse one output, run its call, record the round; sets `stop` on submit, a sandbox failure or the last
        allowed step."""
        parsed = parse_completion(raw)
        index = len(self.turns)
        if not parsed.ok:
            error = parsed.error or "malformed output"
            message = format_error_message(error)
            turn = Turn(index, raw, think=parsed.think, format_error=error, observation=message,
                        feedback=observation_message(message, self.rules.prompt))
            self._errors.append((raw, turn.feedback))
            return self._record(turn)
        action = parsed.action
        obs, timed_out, failed = run_call(self.runtime, action, self.rules.command_timeout)
        if failed is not None:
            self.stop = failed
            return self._record(Turn(index, raw, think=parsed.think, action=action,
                                     observation=f"[sandbox error: {failed.detail}]", stop=failed))
        text = timed_out if obs is None else obs.output
        turn = Turn(index, raw, think=parsed.think, action=action, observation=text,
                    feedback=observation_message(text, self.rules.prompt),
                    exit_code=None if obs is None else obs.exit_code,
                    timed_out=obs is None or bool(obs.timed_out),
                    exec_seconds=0.0 if obs is None else round(float(obs.duration or 0.0), 4))
        self._errors = []
        self.history.append(Step(thought=(parsed.think or "").strip(), action=action, observation=text,
                                 exit_code=turn.exit_code))
        if action.tool == SUBMIT:
            turn = _with_stop(turn, self.end(SUBMITTED, "the policy submitted"))
        return self._record(turn)

    def _record(self, turn: Turn) -> Turn:
        if turn.stop is None and len(self.turns) + 1 >= self.rules.max_steps:
            turn = _with_stop(turn, self.end(STEP_LIMIT, f"{self.rules.max_steps} steps without submitting"))
        self.turns.append(turn)
        if self.rules.context == "growing":
            self._chat.append({"role": "assistant", "content": turn.raw})
            if turn.stop is None:  # nothing follows the last output
                self._chat.append({"role": "user", "content": turn.feedback})
        return turn


def _with_stop(turn: Turn, stop: Stop) -> Turn:
    return replace(turn, stop=stop)
