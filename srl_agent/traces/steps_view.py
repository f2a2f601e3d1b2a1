"""The step-level page for `srl eval-steps` outputs: one card per step example with the exact prompt, the
student's completion, its parsed action (or format error) against the expert action, and the reward."""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import Sequence

from srl_agent.traces.display import action_body_html, describe
from srl_agent.traces.html import (PromptTable, bar_html, cards_html, char_diff, notes_html, page, pct,
                                   prompt_button)
from srl_agent.traces.step_results import StepResult

STEP_STATUSES = ("exact", "partial", "malformed")


def _cards(results: Sequence[StepResult], summary: dict | None) -> str:
    n = len(results)
    counts = Counter(r.status for r in results)
    mean = sum(r.reward for r in results) / n if n else None
    cards = [(str(n), "step examples"), ("–" if mean is None else f"{mean:.3f}", "mean step reward"),
             (pct(1 - counts["malformed"] / n if n else None), "parse rate"),
             (pct(counts["exact"] / n if n else None), "exact match (reward 1)")]
    if summary and summary.get("examples") not in (None, n):
        cards.append((str(summary["examples"]), "examples in the run's totals (summary.json)"))
    return cards_html(cards)


def _by_tool(results: Sequence[StepResult]) -> str:
    groups: dict[str, list[StepResult]] = {}
    for r in results:
        groups.setdefault(r.tool or "?", []).append(r)
    rows = "".join(f"<tr><td class=tool>{escape(tool)}</td><td class=num>{len(v)}</td>"
                   f"<td class=num>{sum(r.reward for r in v) / len(v):.3f}</td>"
                   f"<td class=num>{pct(sum(r.format_error is None for r in v) / len(v))}</td>"
                   f"<td class=num>{pct(sum(r.status == 'exact' for r in v) / len(v))}</td></tr>"
                   for tool, v in sorted(groups.items()))
    return ("<table class=bytool><tr><th>expert tool</th><th>examples</th><th>mean reward</th><th>parse rate</th>"
            f"<th>exact</th></tr>{rows}</table>")


def _position(r: StepResult) -> str:
    if r.step_index is None:
        return ""
    return f"step {r.step_index + 1}" + (f" of {r.num_steps}" if r.num_steps else "")


def example_html(r: StepResult, n: int, prompts: PromptTable, first_of_task: bool) -> str:
    prompts.add(str(n), r.prompt)
    shown = describe(r.expert_action, r.tool)
    parts = [prompt_button(str(n), r.prompt, "prompt the student saw")]
    if r.think:
        parts.append(f'<div class="label">monologue</div><div class="think">{escape(r.think.strip())}</div>')
    if r.format_error is not None:
        parts.append(f'<div class="label">completion (malformed: {escape(r.format_error)})</div>'
                     f'<pre class="completion">{escape(r.completion)}</pre>'
                     f'<div class="label">expert action</div>{action_body_html(r.expert_action, shown)}')
    else:
        mine, theirs = char_diff(r.action or "", r.expert_action)
        parts.append(f'<div class="label">parsed action vs. expert action · reward <span class="reward">'
                     f'{r.reward:.3f}</span></div><div class="pair">'
                     f'<div><div class="cap">student</div><pre class="mine">{mine}</pre></div>'
                     f'<div><div class="cap">expert</div><pre class="expert">{theirs}</pre></div></div>'
                     f'<details><summary class="cap">raw completion</summary>'
                     f'<pre class="completion">{escape(r.completion)}</pre></details>')
    if r.expert_thought.strip():
        parts.append(f'<details><summary class="cap">expert thought</summary><div class="think">'
                     f"{escape(r.expert_thought.strip())}</div></details>")
    student = describe(r.action, r.action_tool).name if r.action else "format error"
    where = " · ".join(x for x in (escape(r.instance_id), _position(r), escape(r.source)) if x)
    group = ' data-group="1"' if first_of_task else ""
    return (f'<article class="example unit" data-nav="step"{group} id="ex-{n}" data-status="{r.status}" '
            f'data-index="{r.index}"><h3>#{r.index} · expert <span class="tool">{escape(shown.name)}</span> · '
            f'student <span class="tool">{escape(student)}</span> · r={r.reward:.2f} '
            f'<span class="badge {r.status}">{r.status}</span></h3><div class="meta">{where}</div>'
            f"{''.join(parts)}</article>")


def render_steps_html(results: Sequence[StepResult], *, title: str = "srl eval-steps", summary: dict | None = None,
                      notes: Sequence[str] = ()) -> str:
    """The whole page for the per-example results of one `srl eval-steps` run."""
    prompts = PromptTable()
    cards, seen = [], set()
    for n, r in enumerate(results):
        key = (r.instance_id, r.source)
        cards.append(example_html(r, n, prompts, key not in seen))
        seen.add(key)
    counts = {s: sum(r.status == s for r in results) for s in STEP_STATUSES}
    sub = " · ".join(str(summary[k]) for k in ("model", "data", "split") if summary and summary.get(k))
    body = (f"{notes_html(notes)}{_cards(results, summary)}{_by_tool(results)}"
            f"{bar_html(counts, len(results), 'search ids, completions, actions, thoughts')}{''.join(cards)}")
    return page(title, sub, body, prompts)
