"""The SRL step prompt: the system instructions and `build_step_messages`, shared by training data and the agent loop.

The same function builds the prompt for an expert step example (`srl traj split`) and for the student's
next turn during evaluation, so what the student sees at training and test time is identical. It is pure
and cheap: string work only, no tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from srl_agent.actions import Action, render
from srl_agent.errors import ConfigError

SYSTEM_PROMPT = """\
You are a software engineer fixing an issue in a code repository inside a sandboxed Linux container \
(the repository is your working directory). You work one step at a time: each turn you reason, then make \
exactly one tool call; its output comes back as the next message, starting with "OBSERVATION:".

Format of every reply:
<think>
your reasoning about what to do next
</think>
<function=TOOL>
<parameter=NAME>VALUE</parameter>
</function>

Write exactly one <think>...</think> block followed by exactly one call and nothing else. Parameter values \
are taken verbatim (no quoting or escaping); put each parameter on its own line.

Tools:
1. bash: run a shell command (non-interactive; cwd and environment persist between calls).
   <parameter=command> the command to run.
2. str_replace_editor: view, create and edit files.
   <parameter=command> one of view, create, str_replace, insert, undo_edit.
   <parameter=path> absolute path of the file or directory.
   <parameter=file_text> (create) the whole content of the new file.
   <parameter=view_range> (view, optional) line range such as [10, 40]; -1 as the end means to the end.
   <parameter=old_str> (str_replace) the exact text to replace; it must occur exactly once.
   <parameter=new_str> (str_replace, insert) the replacement or inserted text.
   <parameter=insert_line> (insert) the line number after which to insert new_str.
   undo_edit reverts the last edit of path.
3. submit: finish; your changes to the repository are the answer. It takes no parameters:
<function=submit>
</function>"""

TRUNCATION_MARKER = "\n[... {omitted} characters omitted ...]\n"


class StepLike(Protocol):
    """What a shown round needs: an expert Step or a student step from the agent loop both fit."""

    thought: str
    action: Action
    observation: str


@dataclass(frozen=True)
class PromptConfig:
    """How a step prompt is built. context_rounds=-1 shows every earlier round; 0 shows none."""

    context_rounds: int = 2
    show_thoughts: bool = False
    max_observation_chars: int = 4000
    system_prompt: str = SYSTEM_PROMPT

    def __post_init__(self) -> None:
        if self.context_rounds < -1:
            raise ConfigError(f"context_rounds must be -1 (all), 0 or more; got {self.context_rounds}")
        if self.max_observation_chars < 64:
            raise ConfigError(f"max_observation_chars must be at least 64; got {self.max_observation_chars}")


def truncate_middle(text: str, limit: int) -> str:
    """Keep the head and the tail of `text` within `limit` characters, with a marker saying how much went."""
    if len(text) <= limit:
        return text
    # The marker's own length is part of the budget, so the result never exceeds `limit`.
    marker = TRUNCATION_MARKER.format(omitted=len(text))
    keep = max(limit - len(marker), 0)
    head = keep // 2
    tail = keep - head
    omitted = len(text) - head - tail
    marker = TRUNCATION_MARKER.format(omitted=omitted)
    return text[:head] + marker + (text[len(text) - tail:] if tail else "")


def omitted_note(taken: int, shown: int) -> str:
    """The note after the task when earlier rounds are left out: steps taken so far, and how many are shown."""
    steps = f"{taken} step{'s' if taken != 1 else ''}"
    if shown == 0:
        return f"\n\n(You have already taken {steps}; {'it is' if taken == 1 else 'they are'} not shown.)"
    last = "the last one is" if shown == 1 else f"the last {shown} are"
    return f"\n\n(You have already taken {steps}; only {last} shown below, the first {taken - shown} left out.)"


def build_step_messages(problem_statement: str, history: Sequence[StepLike],
                        config: PromptConfig = PromptConfig()) -> list[dict[str, str]]:
    """[system, user(task), then per shown round: assistant(call), user(observation)]; the reply is next."""
    k = config.context_rounds
    shown = list(history) if k < 0 else (list(history[max(0, len(history) - k):]) if k > 0 else [])
    omitted = len(history) - len(shown)
    task_text = problem_statement + (omitted_note(len(history), len(shown)) if omitted else "")
    messages = [{"role": "system", "content": config.system_prompt}, {"role": "user", "content": task_text}]
    for step in shown:
        call = render(step.action)
        if config.show_thoughts and step.thought.strip():
            call = f"<think>\n{step.thought.strip()}\n</think>\n{call}"
        messages.append({"role": "assistant", "content": call})
        obs = truncate_middle(step.observation, config.max_observation_chars)
        messages.append({"role": "user", "content": "OBSERVATION:\n" + obs})
    return messages
