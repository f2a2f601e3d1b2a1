"""The SRL step reward: 2M/T similarity of the student's action to the expert's, -1 for a malformed output.

r = SequenceMatcher(None, render(student_action), render(expert_action), autojunk=AUTOJUNK).ratio()
when the completion parses (srl_agent.actions.parse_completion: one non-empty <think> block, then exactly
one known call, nothing else), otherwise FORMAT_ERROR_REWARD (-1.0). Only actions are compared, never the
monologue. Both sides are compared in their canonical rendering (srl_agent.actions.render), so parameter order
and the surrounding whitespace of the call do not count.

autojunk defaults to False (the SWE-RL choice; the SRL paper is silent). With autojunk=True difflib treats
every character that makes up more than 1% of a string of >= 200 characters as junk: in code that is the
space, the newline, 'e', '_', ... so long editor calls score erratically. Set it with `autojunk=True` here,
`reward.autojunk: true` in a training config, or SRL_REWARD_AUTOJUNK=1.

The similarity comes from cydifflib (a compiled port of difflib) when it is installed and passes a self-check
that it gives bit-identical ratios to difflib (including the popular-element heuristic for strings of >= 200
characters); otherwise pure difflib. SRL_REWARD_BACKEND=difflib forces the fallback.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Sequence

from srl_agent.actions import EDITOR, Action, FormatError, ParsedOutput, parse_call, parse_completion, render

FORMAT_ERROR_REWARD = -1.0
AUTOJUNK = os.environ.get("SRL_REWARD_AUTOJUNK", "0").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class RewardConfig:
    """Settings of the step reward. `equivalence` maps scaffold-specific spellings of the same action
    (SWE-agent `open f`, `cat f`, `str_replace_editor view f`) to one form before comparing; off by default."""

    autojunk: bool = AUTOJUNK
    equivalence: bool = False
    format_error_reward: float = FORMAT_ERROR_REWARD

    @staticmethod
    def from_dict(d: dict | None) -> "RewardConfig":
        d = dict(d or {})
        unknown = set(d) - {"autojunk", "equivalence", "format_error_reward"}
        if unknown:
            from srl_agent.errors import ConfigError

            raise ConfigError(f"unknown reward setting(s) {sorted(unknown)}; known: autojunk, equivalence, "
                              "format_error_reward")
        return replace(RewardConfig(), **d)


@dataclass(frozen=True)
class StepScore:
    """A scored completion: the reward, the parse result (reusable by evaluation) and the compared texts."""

    reward: float
    parsed: ParsedOutput
    action_text: str | None
    expert_text: str


# ---------------------------------------------------------------------------------------------- similarity
def _difflib_ratio(a: str, b: str, autojunk: bool) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=autojunk).ratio()


# Strings chosen to exercise every path of SequenceMatcher: empty sides, no match, ties, and strings of
# >= 200 characters where autojunk's popular-element rule changes the answer.
_SELF_CHECK = [
    ("", ""), ("", "abc"), ("abc", ""), ("abcd", "bcde"), ("aaaa", "aa"), ("ab" * 60, "ba" * 70),
    ("def f(x):\n    return x + 1\n" * 12, "def f(y):\n    return y - 1\n" * 11),
    ("<function=bash>\n<parameter=command>" + "grep -rn foo src/ | head " * 10 + "</parameter>\n</function>",
     "<function=bash>\n<parameter=command>" + "grep -rn bar lib/ | tail " * 9 + "</parameter>\n</function>"),
    ("é∂ unicode ✓ " * 20, "unicode é ✓ ∂ " * 19), ("x" * 300, "x" * 299 + "y"),
]


def _cydifflib_ratio_fn() -> Callable[[str, str, bool], float] | None:
    if os.environ.get("SRL_REWARD_BACKEND", "").lower() == "difflib":
        return None
    try:
        import cydifflib
    except ImportError:
        return None

    def ratio(a: str, b: str, autojunk: bool) -> float:
        return cydifflib.SequenceMatcher(None, a, b, autojunk=autojunk).ratio()

    for a, b in _SELF_CHECK:
        for aj in (False, True):
            try:
                if ratio(a, b, aj) != _difflib_ratio(a, b, aj):
                    return None
            except Exception:  # a broken build must not break training; difflib is always there
                return None
    return ratio


_FAST = _cydifflib_ratio_fn()
BACKEND = "cydifflib" if _FAST is not None else "difflib"
_ratio: Callable[[str, str, bool], float] = _FAST or _difflib_ratio


def similarity(a: str, b: str, *, autojunk: bool = AUTOJUNK) -> float:
    """Exactly `difflib.SequenceMatcher(None, a, b, autojunk=autojunk).ratio()` (2M/T), computed fast."""
    return _ratio(a, b, autojunk)


# --------------------------------------------------------------------------------------------- equivalence
_CAT_RE = re.compile(r"^\s*(?:cat|open)\s+(?P<path>[^\s|;&<>]+)\s*$")
_OPEN_LINE_RE = re.compile(r"^\s*open\s+(?P<path>[^\s|;&<>]+)\s+(?P<line>\d+)\s*$")
_SED_RE = re.compile(r"""^\s*sed\s+-n\s+['"]?(?P<a>\d+),(?P<b>\d+)p['"]?\s+(?P<path>[^\s|;&<>]+)\s*$""")
_NL_RE = re.compile(r"^\s*nl\s+-ba\s+(?P<path>[^\s|;&<>]+)\s*$")


def equivalent_action(action: Action) -> Action:
    """The scaffold-neutral form of an action: file-viewing bash commands become `str_replace_editor view`.

    `cat f`, `nl -ba f`, `open f` (SWE-agent) -> view f; `open f N` and `sed -n 'A,Bp' f` -> view f with a
    view_range. Everything else is returned unchanged, so the mapping only ever merges spellings of a view.
    """
    if action.tool == EDITOR and action.args.get("command") == "view":
        keep = {k: v for k, v in action.args.items() if k in ("command", "path", "view_range")}
        return Action(EDITOR, keep)
    if action.tool != "bash":
        return action
    cmd = action.args.get("command", "")
    for rx in (_CAT_RE, _NL_RE):
        m = rx.match(cmd)
        if m:
            return Action.editor("view", m["path"])
    m = _SED_RE.match(cmd)
    if m:
        return Action.editor("view", m["path"], view_range=f"[{m['a']}, {m['b']}]")
    m = _OPEN_LINE_RE.match(cmd)
    if m:
        return Action.editor("view", m["path"], view_range=f"[{m['line']}, -1]")
    return action


@functools.lru_cache(maxsize=65536)
def _expert_text(expert_action: str, equivalence: bool) -> str:
    """Canonical text of the expert action. Step datasets already store it canonically; re-rendering makes a
    hand-written or differently-ordered call compare fairly. Text that does not parse is compared verbatim."""
    try:
        action = parse_call(expert_action, tools=None)
    except FormatError:
        return expert_action
    return render(equivalent_action(action) if equivalence else action)


# ------------------------------------------------------------------------------------------------- rewards
def score_completion(completion: str, expert_action: str, config: RewardConfig = RewardConfig()) -> StepScore:
    """Parse and score one completion; the full record, for evaluation and traces."""
    expert = _expert_text(expert_action, config.equivalence)
    parsed = parse_completion(completion)
    if not parsed.ok or parsed.action is None:
        return StepScore(config.format_error_reward, parsed, None, expert)
    action = equivalent_action(parsed.action) if config.equivalence else parsed.action
    text = render(action)
    return StepScore(similarity(text, expert, autojunk=config.autojunk), parsed, text, expert)


def step_reward(completion: str, expert_action: str, *, autojunk: bool = AUTOJUNK,
                equivalence: bool = False) -> float:
    """The SRL reward of one student completion against the expert's next action: in [0, 1], or -1."""
    return score_completion(completion, expert_action, RewardConfig(autojunk, equivalence)).reward


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a plain string, or a conversation whose assistant turn holds the text
    (content as a string or as a list of {"type": "text", "text": ...} parts)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    parts: list[str] = []
    for message in completion or []:
        if message.get("role", "assistant") != "assistant":
            continue
        content = message.get("content") or ""
        if isinstance(content, str):
            parts.append(content)
        else:
            parts.extend(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "".join(parts)


def make_srl_reward(config: RewardConfig = RewardConfig()) -> Callable[..., list[float]]:
    """A TRL reward function `(completions, expert_action, **kwargs) -> list[float]` with these settings."""

    def srl_reward(completions: Sequence[Any], expert_action: Sequence[str] | str, **kwargs: Any) -> list[float]:
        experts: Iterable[str] = [expert_action] * len(completions) if isinstance(expert_action, str) \
            else expert_action
        return [score_completion(completion_text(c), e, config).reward
                for c, e in zip(completions, experts, strict=True)]

    return srl_reward


srl_reward = make_srl_reward()
srl_reward.__doc__ = """TRL reward function with the default settings: `srl_reward(completions, expert_action,
**kwargs) -> list[float]`; completions plain or conversational, expert_action one per completion (a dataset
column) or one string for all."""


# ------------------------------------------------------------------------------ SWE-RL patch similarity
def patch_similarity_reward(completion: str, code_context: dict[str, str], oracle_new_content: dict[str, str]) -> float:
    """SWE-RL's reward on the search/replace edit format (srl_agent/edit_blocks.py): -1 when the completion
    is malformed or its edits do not apply to `code_context` (path -> file text before); otherwise, for every
    file either side changes, difflib's ratio (autojunk off, as SWE-RL fixes it) between the predicted and the
    oracle change (each a unified diff without headers, 3 lines of context), averaged over those files. A file
    only one side changes scores 0. The numbers are SWE-RL's `calculate_search_replace_reward`."""
    from srl_agent.edit_blocks import EditFormatError, apply_edits, normalized_change, parse_edits

    try:
        pred_new = apply_edits(code_context, parse_edits(completion).edits)
    except EditFormatError:
        return FORMAT_ERROR_REWARD

    def changes(new: dict[str, str]) -> dict[str, str]:
        out = {p: normalized_change(code_context.get(p, ""), text) for p, text in new.items()}
        return {p: c for p, c in out.items() if c}

    pred, oracle = changes(pred_new), changes(oracle_new_content)
    paths = set(pred) | set(oracle)
    if not paths:
        return FORMAT_ERROR_REWARD
    scores = [similarity(pred[p], oracle[p], autojunk=False) if p in pred and p in oracle else 0.0 for p in paths]
    return sum(scores) / len(scores)


def make_patch_similarity_reward() -> Callable[..., list[float]]:
    """A TRL reward function `(completions, code_context, oracle_new_content, **kwargs) -> list[float]` for
    datasets whose rows hold the files before (`code_context`) and after the oracle fix (`oracle_new_content`),
    each a path -> text mapping or its JSON string (how a datasets column stores it)."""
    import json

    def as_map(value: Any) -> dict[str, str]:
        return json.loads(value) if isinstance(value, str) else dict(value)

    def swe_rl_reward(completions: Sequence[Any], code_context: Sequence[Any], oracle_new_content: Sequence[Any],
                      **kwargs: Any) -> list[float]:
        return [patch_similarity_reward(completion_text(c), as_map(ctx), as_map(new))
                for c, ctx, new in zip(completions, code_context, oracle_new_content, strict=True)]

    return swe_rl_reward
