"""A scripted policy for the edit modes that ships with the package: it answers as a perfect model would.

Localisation prompts get the gold patch's files; edit prompts get the gold patch written as SWE-RL
search/replace edits against the file contents the prompt shows (so the whole path, prompt -> completion ->
parse -> apply -> patch -> fresh-container grade, runs as it does for a model). `srl eval --mode oracle-files
--policy scripted --model gold` uses it.
"""

from __future__ import annotations

from srl_agent.eval.modes.agentless import LOCALIZE_MARK
from srl_agent.edit_blocks import patched_contents, render_edits
from srl_agent.eval.modes.oracle import files_in_prompt, gold_files
from srl_agent.policy.base import Messages, PolicyError
from srl_agent.task import Task


class GoldEditPolicy:
    """An episodic policy: `episode(task)` answers that task's prompts with its gold localisation and edit."""

    name = "gold-edit"

    def episode(self, task: Task) -> "_GoldEpisode":
        return _GoldEpisode(task)

    def generate(self, messages: Messages) -> str:
        raise PolicyError("gold-edit: the answer depends on the task; call episode(task) first (the runner does)")


class _GoldEpisode:
    name = "gold-edit"

    def __init__(self, task: Task) -> None:
        self.task = task

    def generate(self, messages: Messages) -> str:
        text = messages[-1]["content"]
        if LOCALIZE_MARK in text:
            return ("<think>\nThe files the fix touches.\n</think>\n```\n" + "\n".join(gold_files(self.task))
                    + "\n```\n")
        files = files_in_prompt(text)
        return render_edits(files, patched_contents(files, self.task.gold_patch or ""),
                            think="Apply the reference fix.")
