"""Multi-turn episodes for outcome-reward RL: the student acts in task sandboxes, one growing token sequence each.

An episode is played by the episode core that evaluation uses (`srl_agent.eval.episode.Episode`): the same parser, the
same format-error and timeout messages, the same observation turns ("OBSERVATION:\n" + the observation cut to
`max_observation_chars`) and the same stop rules (submit, step limit, time limit, context limit, sandbox failure).
What differs is the context: evaluation rebuilds its prompt every step from the last K rounds ("last-k"); an RL
episode here is the core's "growing" context, one sequence that grows turn by turn: the student's tokens exactly
as sampled (loss on them, env_mask 1) and the environment's turns templated by the chat template (env_mask 0,
never trained on). Why RLVR cannot train on last-k through TRL's rollout_func: docs/rlvr.md. The episode ends on
submit, after `max_steps` calls, when its time is up, or when the sequence would outgrow `max_episode_tokens`;
then its work dir's diff (the autosubmit patch) is graded. Reward 1 if the task is resolved, 0 if not, None when
the infrastructure failed (the sandbox would not start or died, grading errored): such an episode says nothing
about the policy and is left out of its group, never scored 0.

Expert-prefix episodes start from the state after the first k actions of a verified expert trajectory: those
actions are replayed in the sandbox and shown in the prompt (as the SRL/eval prompt shows history), then the
student takes over. The grade is of the whole diff from the task's start state, so finishing counts.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from srl_agent.eval.episode import SANDBOX_ERROR, STEP_LIMIT, Episode, EpisodeRules
from srl_agent.errors import ConfigError, SandboxError, TooLargeError
from srl_agent.prompts import PromptConfig
from srl_agent.task import Task
from srl_agent.trajectory import Step
from srl_agent.train.sandboxes import TaskSandboxes, start_task_sandbox  # noqa: F401 (re-exported)


@dataclass(frozen=True)
class EpisodeLimits:
    """Budgets of one episode: `max_steps` calls, `timeout_s` of wall time, `max_tokens` for the whole sequence
    (prompt + every turn), `max_new_tokens` per student turn, `command_timeout` per call."""

    max_steps: int = 8
    timeout_s: float = 300.0
    max_tokens: int = 4096
    max_new_tokens: int = 256
    command_timeout: float = 60.0
    prompt: PromptConfig = PromptConfig(max_observation_chars=2000)
    context: str = "growing"

    def __post_init__(self) -> None:
        if self.context != "growing":  # the only context a single (prompt, completion) row per episode can hold
            raise ConfigError(f"RL rollouts support the growing context only, not {self.context!r} (docs/rlvr.md)")

    def rules(self) -> EpisodeRules:
        return EpisodeRules(max_steps=self.max_steps, time_limit_s=self.timeout_s,
                            command_timeout=self.command_timeout, context=self.context, prompt=self.prompt)


@dataclass
class EpisodeSpec:
    """What to play: a task, and optionally the expert steps to replay first (the expert prefix)."""

    task: Task
    prefix: Sequence[Step] = ()


@dataclass
class EpisodeResult:
    """One finished episode, in the shape TRL's rollout_func returns (plus what the logs want)."""

    instance_id: str
    prefix_k: int
    prompt_ids: list[int]
    completion_ids: list[int]
    env_mask: list[int]
    reward: float | None
    resolved: bool
    stop_reason: str
    steps: int = 0
    format_errors: int = 0
    infra_error: str | None = None
    grade_status: str | None = None
    seconds: float = 0.0
    turns: list[dict] = field(default_factory=list)  # per student turn: raw output, action or error, observation
    messages: list[dict] = field(default_factory=list)  # the whole conversation the sequence renders

    def log_record(self) -> dict:
        return {"instance_id": self.instance_id, "prefix_k": self.prefix_k, "reward": self.reward,
                "resolved": self.resolved, "stop_reason": self.stop_reason, "steps": self.steps,
                "format_errors": self.format_errors, "infra_error": self.infra_error,
                "grade_status": self.grade_status, "seconds": round(self.seconds, 3),
                "completion_tokens": len(self.completion_ids), "model_tokens": sum(self.env_mask)}


@dataclass
class EpisodeState:
    """An episode in progress: the core's Episode (its chat, turns and stop) and the token sequence so far."""

    spec: EpisodeSpec
    index: int
    episode: Episode
    prompt_ids: list[int] = field(default_factory=list)
    sandbox: Any = None
    completion_ids: list[int] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    infra_error: str | None = None
    turns: list[dict] = field(default_factory=list)
    actor_state: Any = None

    @property
    def done(self) -> bool:
        return self.episode.done

    @property
    def stop_reason(self) -> str:
        return self.episode.stop.reason if self.episode.stop else ""

    @property
    def steps(self) -> int:
        return len(self.episode.turns)

    @property
    def messages(self) -> list[dict]:
        """The conversation the sequence renders (what a text policy is given)."""
        return self.episode.messages()

    @property
    def length(self) -> int:
        return len(self.prompt_ids) + len(self.completion_ids)

    @property
    def tokens(self) -> list[int]:
        return self.prompt_ids + self.completion_ids

    def add(self, ids: Sequence[int], trained: bool) -> None:
        self.completion_ids.extend(ids)
        self.env_mask.extend([1 if trained else 0] * len(ids))

    def finish(self, reason: str, infra_error: str | None = None) -> None:
        self.episode.end(reason)
        if infra_error:
            self.infra_error = infra_error


class TokenActor(Protocol):
    """Writes the next student turn of each active episode as token ids (ending with the end-of-turn token
    when the turn ended on its own)."""

    def act(self, episodes: Sequence[EpisodeState]) -> list[list[int]]: ...


# ---------------------------------------------------------------------------------------------- templating
class ChatTokens:
    """Token ids of the prompt and of the environment's turns, cut out of the model's own chat template, so the
    growing sequence is token for token what the template would render for the whole conversation."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.eos_id = tokenizer.eos_token_id
        self.eos_text = tokenizer.eos_token

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt(self, messages: list[dict]) -> list[int]:
        return self.encode(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))

    def user_turn(self, content: str) -> list[int]:
        """What follows a finished assistant turn: the template's closing of it, the user turn, and the opening
        of the next assistant turn."""
        base = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                {"role": "assistant", "content": "a"}]
        before = self.tokenizer.apply_chat_template(base, tokenize=False)
        after = self.tokenizer.apply_chat_template(base + [{"role": "user", "content": content}], tokenize=False,
                                                   add_generation_prompt=True)
        cut = before.rfind(self.eos_text) + len(self.eos_text) if self.eos_text in before else len(before)
        if not after.startswith(before[:cut]):
            raise ValueError("the chat template renders an earlier turn differently once a user turn follows; "
                             "RLVR's growing sequence needs a template that only appends")
        return self.encode(after[cut:])


# ---------------------------------------------------------------------------------------------------- actors
class ModelActor:
    """Samples the next turn of every active episode from a causal LM in one batched `generate` call."""

    def __init__(self, model, tokenizer, *, max_new_tokens: int, temperature: float = 1.0, top_p: float = 1.0,
                 stop_ids: Sequence[int] | None = None) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.temperature, self.top_p = max_new_tokens, temperature, top_p
        gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        ids = stop_ids or ([gen_eos] if isinstance(gen_eos, int) else list(gen_eos or [])) or [tokenizer.eos_token_id]
        self.stop_ids = set(ids)

    def act(self, episodes: Sequence[EpisodeState]) -> list[list[int]]:
        import torch

        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        width = max(e.length for e in episodes)
        ids = torch.full((len(episodes), width), pad, dtype=torch.long)
        mask = torch.zeros((len(episodes), width), dtype=torch.long)
        for i, e in enumerate(episodes):
            seq = e.tokens
            ids[i, width - len(seq):] = torch.tensor(seq)
            mask[i, width - len(seq):] = 1
        device = next(self.model.parameters()).device
        sample = self.temperature > 0
        with torch.no_grad():
            out = self.model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                      max_new_tokens=self.max_new_tokens, do_sample=sample,
                                      temperature=self.temperature if sample else None,
                                      top_p=self.top_p if sample else None, pad_token_id=pad,
                                      eos_token_id=sorted(self.stop_ids))
        turns = []
        for row in out[:, width:].tolist():
            turn: list[int] = []
            for tok in row:
                turn.append(tok)
                if tok in self.stop_ids:
                    break
            turns.append(turn)
        return turns


class TextActor:
    """Wraps a text policy (e.g. the scripted ones of srl_agent.policy.scripted): its outputs are tokenized and
    closed with the end-of-turn token. Tests use it to drive exact episodes through the RL code."""

    def __init__(self, policy, tokenizer) -> None:
        self.policy, self.tokenizer = policy, tokenizer

    def act(self, episodes: Sequence[EpisodeState]) -> list[list[int]]:
        from srl_agent.policy.base import start_episode

        turns = []
        for e in episodes:
            if e.actor_state is None:
                e.actor_state = start_episode(self.policy, e.spec.task)
            text = e.actor_state.generate(e.messages)
            turns.append(list(self.tokenizer(text, add_special_tokens=False)["input_ids"]) + [self.tokenizer.eos_token_id])
        return turns


# ------------------------------------------------------------------------------------------------- the loop
class EpisodeRunner:
    """Plays batches of episodes: generation batched over the episodes still running, sandbox work in threads."""

    def __init__(self, tokenizer, sandboxes: TaskSandboxes, limits: EpisodeLimits = EpisodeLimits(), *,
                 grader: Callable | None = None, workers: int = 4, clock: Callable[[], float] = time.monotonic):
        self.chat = ChatTokens(tokenizer)
        self.sandboxes, self.limits = sandboxes, limits
        self.grader = grader
        self.workers = max(1, workers)
        self.clock = clock

    def run(self, specs: Sequence[EpisodeSpec], actor: TokenActor) -> list[EpisodeResult]:
        from contextlib import ExitStack

        needs: dict[str, tuple[Task, int]] = {}
        for spec in specs:
            iid = spec.task.instance_id
            needs[iid] = (spec.task, needs.get(iid, (spec.task, 0))[1] + 1)
        pools = self.sandboxes.pools_for(needs)
        if self.grader is None and self.sandboxes.backend == "local":  # grading containers start meanwhile
            from srl_agent.grading_run import prepare

            for task, _ in needs.values():
                prepare(task)
        with ExitStack() as stack, ThreadPoolExecutor(self.workers) as pool:
            states = list(pool.map(lambda ie: self._start(ie[0], ie[1], pools, stack), enumerate(specs)))
            for _ in range(self.limits.max_steps):
                active = [s for s in states if not s.done and self._within_limits(s)]
                if not active:
                    break
                turns = actor.act(active)
                list(pool.map(lambda st: self._take_turn(*st), zip(active, turns)))
            for s in states:
                if not s.done:
                    s.finish(STEP_LIMIT)
            return list(pool.map(self._grade, states))

    # -- one episode's pieces
    def _start(self, index: int, spec: EpisodeSpec, pools: dict, stack) -> EpisodeState:
        episode = Episode(spec.task.problem_statement, None, self.limits.rules(), prefix=spec.prefix, clock=self.clock)
        state = EpisodeState(spec=spec, index=index, episode=episode)
        try:
            state.sandbox = episode.runtime = stack.enter_context(pools[spec.task.instance_id].acquire())
        except (SandboxError, OSError) as exc:
            state.finish(SANDBOX_ERROR, f"could not start the episode: {exc}")
        if state.sandbox is not None and episode.start():
            state.infra_error = f"could not start the episode: {episode.stop.detail}"
        state.prompt_ids = self.chat.prompt(episode.messages())
        if not state.done:
            episode.context_limit(len(state.prompt_ids) + self.limits.max_new_tokens, self.limits.max_tokens, "tokens")
        return state

    def _within_limits(self, s: EpisodeState) -> bool:
        if not s.episode.check_limits():
            s.episode.context_limit(s.length + self.limits.max_new_tokens, self.limits.max_tokens, "tokens")
        return not s.done

    def _take_turn(self, s: EpisodeState, ids: list[int]) -> None:
        """The student's tokens as sampled, then the core's turn; its observation turn templated, untrained."""
        eos = self.chat.eos_id
        text = self.chat.tokenizer.decode(ids, skip_special_tokens=True)
        s.add(ids, trained=True)
        if not ids or ids[-1] != eos:
            s.add([eos], trained=False)  # cut at max_new_tokens: close the turn, but do not teach the closing
        turn = s.episode.act(text)
        s.turns.append({"output": text, "observation": turn.observation[:2000],
                        **({"format_error": turn.format_error} if turn.format_error is not None else {}),
                        **({"action": turn.action.render()} if turn.action is not None else {})})
        if turn.stop is not None:
            if turn.stop.reason == SANDBOX_ERROR:
                s.infra_error = f"the sandbox failed during step {s.steps}: {turn.stop.detail}"
            return  # nothing follows the last output
        s.add(self.chat.user_turn(turn.feedback), trained=False)

    def _grade(self, s: EpisodeState) -> EpisodeResult:
        resolved, status = False, None
        if s.infra_error is None:
            grader = self.grader or getattr(s.sandbox, "grade", None)  # a Ray sandbox grades on its own node
            if grader is None:
                from srl_agent.grading import grade_patch as grader
            try:
                try:
                    patch = s.sandbox.diff()
                except TooLargeError:  # the policy's doing: graded as no patch (reward 0), not dropped
                    patch = ""
                report = grader(s.spec.task, patch)  # a fresh container, never the episode's own
                status, resolved = report.status, bool(report.resolved)
                if status == "ERROR":
                    s.infra_error = f"grading failed: {report.infra_error}"
            except (SandboxError, OSError) as exc:
                s.infra_error = f"grading failed: {exc}"
        reward = None if s.infra_error else float(resolved)
        eos = self.chat.eos_id
        while s.env_mask and s.env_mask[-1] == 0 and s.completion_ids[-1] != eos:
            s.completion_ids.pop()  # an environment turn that no student turn followed (time or context limit)
            s.env_mask.pop()
        if not s.completion_ids:  # TRL needs one token per completion; an untrained one
            s.add([eos], trained=False)
        return EpisodeResult(
            instance_id=s.spec.task.instance_id, prefix_k=len(s.spec.prefix), prompt_ids=s.prompt_ids,
            completion_ids=s.completion_ids, env_mask=s.env_mask, reward=reward,
            resolved=resolved and reward is not None,
            stop_reason=s.stop_reason, steps=s.steps, format_errors=s.episode.format_errors,
            infra_error=s.infra_error, grade_status=status, seconds=self.clock() - s.episode.started, turns=s.turns,
            messages=s.messages)
