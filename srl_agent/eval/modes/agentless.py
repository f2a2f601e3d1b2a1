"""`srl eval --mode agentless`: an Agentless-mini-style pipeline (the paper's end-to-end setting, as in SWE-RL).

Step 1, localisation: the issue and the repository's file listing (tracked source files of the start state); the
model names the files to edit, most important first, in one fenced block. Names not in the listing are dropped;
none left is a localisation error. Step 2 is the oracle-files edit step on those files instead of the gold ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from srl_agent.eval.modes.oracle import SYSTEM, edit_step, over_limit, read_files
from srl_agent.eval.modes.runner import EditResult
from srl_agent.policy.base import Policy
from srl_agent.task import Task

LOCALIZE_MARK = "### Repository files ###"
_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)


@dataclass(frozen=True)
class AgentlessConfig:
    """`max_files`: how many localised files the edit step sees; `extensions`: which tracked files the listing
    shows; `max_prompt_tokens` as in oracle-files (for both prompts)."""
    max_files: int = 3
    extensions: tuple[str, ...] = (".py",)
    max_prompt_tokens: int | None = None


def listing(sb, extensions: tuple[str, ...]) -> list[str]:
    """Tracked files of the start state with one of `extensions`, sorted."""
    obs = sb.run("git ls-files", timeout=60)
    return sorted(p for p in obs.output.splitlines() if p.strip() and p.endswith(extensions))


def localize_prompt(task: Task, files: list[str], n: int) -> list[dict]:
    user = (f"Read this issue and the repository's file list, and name the files that would have to be edited to "
            f"fix it.\n\n### Issue ###\n{task.problem_statement.strip()}\n\n{LOCALIZE_MARK}\n" + "\n".join(files)
            + f"\n\nGive at most {n} full paths from the list, most important first, one per line, inside a "
              "single ``` block, for example:\n```\npkg/core.py\npkg/utils.py\n```")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_localization(text: str, files: list[str], n: int) -> list[str]:
    """The listed files named in the answer's last fenced block (or its last lines when it has none), in
    order, at most n."""
    blocks = _FENCE.findall(text)
    lines = (blocks[-1] if blocks else text).splitlines()
    known, picked = set(files), []
    for line in lines:
        p = line.strip().strip("`").strip()
        if p in known and p not in picked:
            picked.append(p)
    return picked[:n]


def agentless_step(config: AgentlessConfig = AgentlessConfig()):
    """The agentless step for evaluate_edits: localise, then edit the localised files."""
    def step(task: Task, policy: Policy, sb) -> EditResult:
        files = listing(sb, config.extensions)
        messages = localize_prompt(task, files, config.max_files)
        loc = {"prompt": messages, "completion": "", "files": []}
        too_long = over_limit(policy, messages, config.max_prompt_tokens)
        if too_long:
            return EditResult(task.instance_id, "agentless", status="context_limit", error=f"localisation: {too_long}",
                              localization=loc)
        loc["completion"] = policy.generate(messages)
        loc["files"] = parse_localization(loc["completion"], files, config.max_files)
        if not loc["files"]:
            return EditResult(task.instance_id, "agentless", status="localization_error",
                              error="the localisation answer names no file of the listing", localization=loc)
        result = edit_step(task, policy, read_files(sb, loc["files"]), loc["files"], mode="agentless",
                           limit=config.max_prompt_tokens)
        result.localization = loc
        return result

    return step
